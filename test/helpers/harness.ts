import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { request as undiciRequest, Agent } from 'undici'
import { buildApp, type App, type AppDeps } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { generateApiKey, sha256Hex, type Scope } from '../../src/consumers.ts'
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.ts'
import { contractViolations } from './contract.ts'
import { movableClock, type MovableClock } from './time.ts'

/** Keys of the consumers every harness configures, by the scopes they hold. */
export interface Keys {
  /** `reader`: profile:read */
  profile: string
  /** `billing`: balance:read only */
  balance: string
}

export interface Harness {
  app: App
  sandbox: Sandbox
  /** Base URL of the app, listening on a loopback port. */
  url: string
  keys: Keys
  /** Every log line the app wrote, parsed. */
  logs: Array<Record<string, unknown>>
  /** Raw log output, for leak checks. */
  rawLogs: () => string
  get: (path: string, headers?: Record<string, string>) => Promise<Reply>
  /** The app's clock: it stands still unless the test moves it. */
  clock: MovableClock
  /** HTTP requests the app has received so far. */
  readonly requests: number
  /** Resolves once the app has received `count` HTTP requests in all: they are inside it, past routing. */
  arrived: (count: number) => Promise<void>
}

export interface Reply {
  status: number
  headers: Record<string, string>
  text: string
  json: () => any
}

export class LogCapture extends Writable {
  readonly chunks: string[] = []
  readonly lines: Array<Record<string, unknown>> = []
  override _write (chunk: Buffer, _encoding: string, callback: () => void): void {
    const text = chunk.toString()
    this.chunks.push(text)
    for (const line of text.split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line))
    callback()
  }
}

const agent = new Agent({ connections: 512, keepAliveTimeout: 1000 })

export async function httpGet (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' | 'POST' = 'GET'): Promise<Reply> {
  const response = await undiciRequest(url, { method, headers, dispatcher: agent })
  const text = await response.body.text()
  const flat: Record<string, string> = {}
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return { status: response.statusCode, headers: flat, text, json: () => JSON.parse(text) }
}

export function consumersJson (keys: Record<string, { key: string, scopes: Scope[], limit?: number }>): string {
  return JSON.stringify(Object.entries(keys).map(([name, { key, scopes, limit }]) =>
    ({ name, key_sha256: sha256Hex(key), scopes, ...(limit === undefined ? {} : { rate_limit_per_minute: limit }) })))
}

export interface HarnessOptions {
  /** Extra environment variables for loadConfig (strings, as an operator would set them). */
  env?: Record<string, string>
  sandbox?: SandboxOptions
  /** The app's clock (default: a new movable clock, frozen at the start). */
  clock?: MovableClock
  /** Other app dependencies to override. */
  deps?: Omit<AppDeps, 'logStream' | 'clock'>
  /** Share another harness's sandbox, keys and clock (several replicas of the service); the sandbox is then not closed here. */
  replicaOf?: Harness
}

/** Starts the sandbox and the real app against it on loopback sockets; both close when `t` ends. */
export async function startHarness (t: Test, options: HarnessOptions = {}): Promise<Harness> {
  const clock = options.clock ?? options.replicaOf?.clock ?? movableClock()
  // The sandbox's balance and updated_at follow the same clock, unless the test gives it one of its own.
  const sandbox = options.replicaOf?.sandbox ?? await startSandbox({ now: clock.now, ...options.sandbox })
  const keys: Keys = options.replicaOf?.keys ?? { profile: generateApiKey(), balance: generateApiKey() }
  const config = loadConfig({
    VOBIZ_BASE_URL: sandbox.url,
    VOBIZ_AUTH_ID: sandbox.authId,
    VOBIZ_AUTH_TOKEN: sandbox.authToken,
    CONSUMERS: consumersJson({
      reader: { key: keys.profile, scopes: ['profile:read'] },
      billing: { key: keys.balance, scopes: ['balance:read'] }
    }),
    LOG_LEVEL: 'info',
    // A busy machine must not change the outcome: no shedding for event-loop delay (the load-shedding test
    // drives it itself), and upstream deadlines that only the tests about deadlines shorten.
    MAX_EVENT_LOOP_DELAY_MS: '0',
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_ATTEMPT_TIMEOUT_MS: '60000',
    // Tests count Vobiz requests from the first one they cause; the start-up fetch has tests of its own.
    STARTUP_FETCH: 'false',
    ...options.env
  })
  const logs = new LogCapture()
  const app = await buildApp(config, { ...options.deps, logStream: logs, clock })
  const address = await app.listen({ host: '127.0.0.1', port: 0 })
  // Node emits 'request' after Fastify's own listener has taken the request in.
  let requests = 0
  let arrivals: Array<{ count: number, resolve: () => void }> = []
  app.server.on('request', () => {
    requests += 1
    for (const arrival of arrivals) if (arrival.count <= requests) arrival.resolve()
    arrivals = arrivals.filter((arrival) => arrival.count > requests)
  })
  t.teardown(async () => {
    await app.close()
    if (options.replicaOf === undefined) await sandbox.close()
  })
  return {
    app,
    sandbox,
    url: address,
    keys,
    clock,
    get requests () { return requests },
    arrived: async (count) => {
      if (requests < count) await new Promise<void>((resolve) => { arrivals.push({ count, resolve }) })
    },
    logs: logs.lines,
    rawLogs: () => logs.chunks.join(''),
    get: async (path, headers = {}) => {
      const reply = await httpGet(address + path, headers)
      // Every reply a test receives must match the published OpenAPI contract.
      const violations = contractViolations('GET', path, reply)
      if (violations.length > 0) t.fail(`GET ${path} breaks the OpenAPI contract`, { violations })
      return reply
    }
  }
}
