import type { AddressInfo } from 'node:net'
import closeWithGrace from 'close-with-grace'
import { buildApp, type App } from './app.ts'
import { guardMemoryUsage } from './observability/memory-usage-guard.ts'
import { displayUrl, sandboxBanner } from './banner.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { enabledFeatures } from './features.ts'
import { startTracing, type Tracing } from './observability/tracing.ts'
import { codeOf, messageOf } from './caught.ts'

/** How long in-flight requests get to finish after SIGTERM/SIGINT before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000
/** How long the last spans get to reach the OTLP receiver at shutdown, within the grace period. */
const TRACE_FLUSH_MS = 3000

function readConfig (): Config {
  try {
    return loadConfig(process.env)
  } catch (err) {
    /* c8 ignore next */
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`vobiz-partner-bff: ${err.message}\n`)
    process.exit(1)
  }
}

/**
 * `.env` in the working directory, when there is one (Node's own parser): variables already set in the
 * environment win. Any other failure to read it is a start-up error.
 */
function loadDotEnv (): boolean {
  try {
    process.loadEnvFile('.env')
    return true
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return false
    /* c8 ignore next 2 */
    process.stderr.write(`vobiz-partner-bff: cannot read .env (${codeOf(err) ?? messageOf(err)})\n`)
    process.exit(1)
  }
}

async function main (): Promise<void> {
  const dotEnv = loadDotEnv()
  let config = readConfig()
  // Filled in once built; the shutdown handler closes whatever has started by then.
  const running: { app?: App, tracing?: Tracing } = {}
  let closeSandbox = async (): Promise<void> => {}
  // Installed before anything starts, so that a SIGTERM at any moment — even during start-up — ends in a clean
  // exit 0 (after draining what has started), never in Node's default "killed by SIGTERM" (status 143).
  // SIGHUP reloads what comes from files (src/plugins/file-reloads.ts) and never ends the process; until the
  // app is built there is nothing to reload.
  const ignoreHangUp = (): void => {}
  process.on('SIGHUP', ignoreHangUp)
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, skip: ['SIGHUP'], logger: { error: (message: unknown) => { running.app?.log.error(message) } } }, async ({ signal, err }) => {
    // An uncaught exception or unhandled rejection also shuts down through here (exit code 1).
    /* c8 ignore next */
    if (err !== undefined) running.app?.log.error({ err }, 'shutting down after an unexpected error')
    else running.app?.log.info({ signal }, 'shutting down')
    await running.app?.close()
    // The spans of the last requests, flushed after them; a receiver that does not answer does not hold the exit.
    if (running.tracing !== undefined) await Promise.race([running.tracing.shutdown(), new Promise((resolve) => setTimeout(resolve, TRACE_FLUSH_MS).unref())])
    await closeSandbox()
  })
  let demoKey: string | undefined
  if (config.VOBIZ_SANDBOX) {
    // Loaded only in sandbox mode: production never starts the simulated upstream.
    const { enterSandboxMode } = await import('./sandbox/sandbox-mode.ts')
    const mode = await enterSandboxMode(config)
    config = mode.config
    demoKey = mode.demoKey
    closeSandbox = () => mode.sandbox.close()
  }

  // Tracing starts before the app is built, so that its instrumentations see every module the app loads.
  if (config.tracing !== undefined) running.tracing = await startTracing(config.tracing)
  const app = await buildApp(config, { tracing: running.tracing })
  running.app = app
  process.off('SIGHUP', ignoreHangUp)
  guardMemoryUsage(app.log)

  try {
    await app.listen({ host: config.HOST, port: config.PORT })
  } catch (err) {
    app.log.fatal({ err }, `cannot listen on ${config.HOST}:${config.PORT}`)
    await closeSandbox()
    process.exit(1)
  }
  const url = displayUrl(config.HOST, (app.server.address() as AddressInfo).port)
  for (const warning of config.warnings) app.log.warn(warning)
  app.log.info({ url, upstream: config.VOBIZ_SANDBOX ? 'sandbox' : config.VOBIZ_BASE_URL, consumers: config.consumers.length, maxConnections: app.server.maxConnections, ...(dotEnv ? { envFile: '.env' } : {}), features: enabledFeatures(config) }, 'vobiz-partner-bff ready')
  if (config.VOBIZ_SANDBOX) {
    app.log.warn('SANDBOX MODE: Vobiz is simulated; every profile and balance served is made-up data')
    process.stdout.write(sandboxBanner(url, demoKey))
  }
}

await main()
