import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify from 'fastify'
import type { DestinationStream } from 'pino'
import { secondsToMs, systemClock, type Clock } from './clock.ts'
import type { Config } from './config.ts'
import type { Tracing } from './observability/tracing.ts'
import accessLog from './http/access-log.ts'
import browser from './http/browser.ts'
import protocolErrors from './http/client-errors.ts'
import connections from './http/connections.ts'
import drain from './http/drain.ts'
import { defaultMaxStreams } from './http/event-streams.ts'
import loadShedding from './http/load-shedding.ts'
import metricsRoute from './http/metrics-route.ts'
import openapi from './http/openapi.ts'
import problems from './http/problems.ts'
import { serverOptions } from './http/server-options.ts'
import callers from './plugins/callers.ts'
import changes from './plugins/changes.ts'
import fileReloads from './plugins/file-reloads.ts'
import fleet from './plugins/fleet.ts'
import { createLogging, LOG_BASE } from './plugins/logger.ts'
import metrics from './plugins/metrics.ts'
import profiles from './plugins/profiles.ts'
import startupFetch from './plugins/startup-fetch.ts'
import tracing from './plugins/tracing.ts'
import upstream from './plugins/upstream.ts'
import webhooks from './plugins/webhooks.ts'
import eventRoutes from './routes/events.ts'
import healthRoutes from './routes/health.ts'
import profileRoutes from './routes/profile.ts'

export { loggerOptions } from './plugins/logger.ts'

export interface AppDeps {
  /** Where log lines go (default: stdout). Tests pass a stream to read them. */
  logStream?: DestinationStream
  /** Time for the cache, the upstream's deadlines, cool-down and backoff (default: the system clock); tests move it instead of waiting. */
  clock?: Clock
  /** How often load shedding samples event-loop delay and heap (default 1000 ms). */
  pressureSampleIntervalMs?: number
  /** The OpenTelemetry SDK, started by the server before the app when tracing is on. */
  tracing?: Tracing | undefined
}

/**
 * The one app factory, used by the server, the tests and the benchmark: a list of plugins, each one concept
 * in its own file. Services first (each a decorator the later ones use), then the edge in the order a
 * request meets it, then the routes. A request flows edge → route → cache → source → upstream → normaliser.
 */
export async function buildApp (config: Config, deps: AppDeps = {}) {
  const clock = deps.clock ?? systemClock
  const { logger, sink, secrets } = createLogging(config, deps.logStream)
  const app = Fastify({ loggerInstance: logger, ...serverOptions(config) }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(TypeBoxValidatorCompiler)

  // Services.
  await app.register(metrics, { fleet: config.REDIS_URL !== undefined, tracing: deps.tracing !== undefined, sink })
  await app.register(tracing, { tracing: deps.tracing, secrets })
  await app.register(fileReloads)
  await app.register(fleet, { config, now: clock.now })
  await app.register(upstream, { config, clock, secrets })
  await app.register(changes, { config, now: clock.now })
  await app.register(profiles, { config, now: clock.now })
  await app.register(webhooks, { config, secrets, now: clock.now })
  await app.register(callers, { config, secrets })
  if (config.STARTUP_FETCH) await app.register(startupFetch)

  // The edge.
  await app.register(connections, { maxConnections: config.MAX_CONNECTIONS })
  await app.register(problems)
  await app.register(accessLog, {
    // Access lines go to the log's destination directly, in pino's format (see access-log.ts).
    write: config.ACCESS_LOG && logger.isLevelEnabled('info') ? (line) => { sink.writeAccess(line) } : undefined,
    base: LOG_BASE
  })
  await app.register(browser, { corsOrigins: config.corsOrigins })
  await app.register(protocolErrors)
  await app.register(drain)
  await app.register(loadShedding, {
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: config.MAX_HEAP_USED_BYTES,
    sampleIntervalMs: deps.pressureSampleIntervalMs ?? 1000
  })

  // Routes.
  await app.register(openapi, { docsEnabled: config.DOCS_ENABLED, bearer: app.bearer })
  await app.register(healthRoutes, { now: clock.now })
  await app.register(metricsRoute, { token: config.METRICS_TOKEN })
  await app.register(profileRoutes, { now: clock.now })
  await app.register(eventRoutes, {
    heartbeatMs: secondsToMs(config.EVENTS_HEARTBEAT_SECONDS),
    limits: { maxStreams: config.EVENTS_MAX_STREAMS ?? defaultMaxStreams(config.MAX_HEAP_USED_BYTES), maxPerCaller: config.EVENTS_MAX_STREAMS_PER_CALLER },
    maxBufferedBytes: config.EVENTS_MAX_BUFFERED_BYTES
  })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
