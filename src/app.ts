import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { LogController } from 'fastify'
import { pino, type DestinationStream, type LoggerOptions } from 'pino'
import { ProfileCache } from './cache/profile-cache.ts'
import { systemClock, type Clock } from './clock.ts'
import type { Config } from './config.ts'
import { ConsumerRegistry } from './consumers.ts'
import underPressure from '@fastify/under-pressure'
import accessLog from './http/access-log.ts'
import browser from './http/browser.ts'
import { trustProxyOption } from './http/client-address.ts'
import { STALE_IF_ERROR } from './http/cache-headers.ts'
import { clientErrorHandler, refuseConnect, requireHost } from './http/client-errors.ts'
import { defaultMaxConnections, descriptorLimit, guardConnections } from './http/connections.ts'
import drain from './http/drain.ts'
import { identify } from './http/identity.ts'
import { metricsRoute } from './http/metrics-route.ts'
import { Metrics } from './observability/metrics.ts'
import { createLimiters } from './http/rate-limit.ts'
import openapi from './http/openapi.ts'
import problems, { ProblemError } from './http/problems.ts'
import { requestId } from './http/request-id.ts'
import { lazyChildLogger } from './http/request-logger.ts'
import { buildSnapshot, type ProfileSnapshot, type View } from './profile-snapshot.ts'
import healthRoutes from './routes/health.ts'
import profileRoutes from './routes/profile.ts'
import { VobizClient } from './vobiz/client.ts'
import { UpstreamError } from './vobiz/errors.ts'
import { normalizeProfile } from './vobiz/profile.ts'
import { ResilientUpstream } from './vobiz/upstream.ts'
import { LogSink } from './observability/log-sink.ts'
import { SecretFilter } from './observability/secret-filter.ts'
import type { ScaleOut } from './redis/scale-out.ts'

const OVERLOAD_RETRY_AFTER_SECONDS = 5
/** How often Node checks connections against the headers and request timeouts (its default is 30 s). */
const CONNECTIONS_CHECK_INTERVAL_MS = 1000

/** What @fastify/under-pressure throws when shedding load: a 503 problem with Retry-After. */
class Overloaded extends ProblemError {
  constructor () {
    super('service_unavailable', 'The service is overloaded. Retry after the time given in Retry-After.', { 'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS) })
  }
}

export interface AppDeps {
  /** Where log lines go (default: stdout). Tests pass a stream to read them. */
  logStream?: DestinationStream
  /** Time for the cache, the upstream's deadlines, cool-down and backoff (default: the system clock); tests move it instead of waiting. */
  clock?: Clock
  /** How often load shedding samples event-loop delay and heap (default 1000 ms). */
  pressureSampleIntervalMs?: number
}

/** Header and field paths that may carry a secret, censored in every log line. */
const REDACT = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  'headers["x-auth-id"]',
  'headers["x-auth-token"]',
  '*.headers["x-auth-id"]',
  '*.headers["x-auth-token"]'
]

/** Fields on every log line. */
const LOG_BASE = { service: 'vobiz-partner-bff' }

/** Every value that must never reach a log line, for the last check before a line is written. */
function secretsOf (config: Config): SecretFilter {
  const redisPassword = config.REDIS_URL === undefined ? undefined : decodeURIComponent(new URL(config.REDIS_URL).password)
  return new SecretFilter({
    secrets: [config.VOBIZ_AUTH_ID, config.VOBIZ_AUTH_TOKEN, config.METRICS_TOKEN, config.REDIS_URL, redisPassword],
    keyDigests: config.consumers.map((consumer) => consumer.key_sha256)
  })
}

export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'>): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    base: LOG_BASE,
    redact: { paths: REDACT, censor: '[redacted]' }
  }
}

/** The one app factory, used by the server, the tests and the benchmark. */
export async function buildApp (config: Config, deps: AppDeps = {}) {
  // Asynchronous stdout: under load, lines are written in batches instead of one write per line; whatever
  // is buffered is flushed when the process exits. The sink bounds that buffer (a stalled reader drops lines,
  // not memory); sonic-boom's own cap is the backstop.
  const sink = deps.logStream === undefined
    ? new LogSink({ destination: pino.destination({ dest: 1, sync: false, maxLength: config.LOG_MAX_BUFFER_BYTES }), maxBufferBytes: config.LOG_MAX_BUFFER_BYTES })
    : new LogSink({ destination: deps.logStream })
  const secrets = secretsOf(config)
  const logger = pino(loggerOptions(config), { write: (line: string) => { sink.write(secrets.scrub(line)) } })
  // Only a real stdout can stall: test/security/exhaustion.test.ts covers this in a child process.
  /* c8 ignore next */
  sink.onRecovered = (dropped) => { logger.warn({ dropped }, `the log destination fell behind: ${dropped} lines were dropped`) }
  const app = Fastify({
    loggerInstance: logger,
    // One summary line per request comes from the access-log plugin instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestId,
    childLoggerFactory: lazyChildLogger,
    bodyLimit: 1024,
    // Silent or slow clients are let go in seconds: headers must arrive within HEADERS_TIMEOUT_MS (checked
    // every second, not Node's default 30 s), a whole request within REQUEST_TIMEOUT_MS, and an idle
    // keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS.
    // Without Host, requireHost answers (in problem+json) instead of Node.
    http: { headersTimeout: config.HEADERS_TIMEOUT_MS, connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS, requireHostHeader: false },
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    clientErrorHandler,
    // Shutdown is answered by the drain plugin, in problem+json.
    return503OnClosing: false,
    trustProxy: trustProxyOption(config.TRUST_PROXY)
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  app.server.on('connect', refuseConnect)

  const clock = deps.clock ?? systemClock
  const { now } = clock
  const vobizLog = logger.child({ component: 'vobiz' })
  const client = new VobizClient({
    baseUrl: config.VOBIZ_BASE_URL,
    // loadConfig guarantees both outside sandbox mode, and sandbox mode fills them in before buildApp.
    authId: config.VOBIZ_AUTH_ID ?? '',
    authToken: config.VOBIZ_AUTH_TOKEN ?? '',
    attemptTimeoutMs: Math.min(config.UPSTREAM_ATTEMPT_TIMEOUT_MS, config.UPSTREAM_TIMEOUT_MS),
    maxBodyBytes: config.UPSTREAM_MAX_BODY_BYTES,
    maxRetryAfterSeconds: config.UPSTREAM_MAX_RETRY_AFTER_SECONDS
  })
  const upstream = new ResilientUpstream({
    client,
    parse: (raw) => {
      const { profile, dropped } = normalizeProfile(raw)
      if (dropped.length > 0) vobizLog.warn({ dropped }, 'vobiz profile fields with unusable values were omitted')
      return profile
    },
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    attemptTimeoutMs: config.UPSTREAM_ATTEMPT_TIMEOUT_MS,
    retries: config.UPSTREAM_RETRIES,
    breakerThreshold: config.BREAKER_FAILURE_THRESHOLD,
    breakerOpenMs: config.BREAKER_OPEN_SECONDS * 1000,
    logger: vobizLog,
    clock,
    observe: (outcome, attempts, seconds) => { metrics.observeFetch(outcome, attempts, seconds) }
  })
  const freshness = {
    profile: {
      ttlMs: config.PROFILE_TTL_SECONDS * 1000,
      staleWhileRevalidateMs: config.PROFILE_STALE_WHILE_REVALIDATE_SECONDS * 1000,
      staleIfErrorMs: config.PROFILE_STALE_IF_ERROR_SECONDS * 1000
    },
    // A balance checked before a transfer must wait for fresh data: no stale-while-revalidate.
    balance: {
      ttlMs: config.BALANCE_TTL_SECONDS * 1000,
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: config.BALANCE_STALE_IF_ERROR_SECONDS * 1000
    }
  }
  const { REDIS_URL } = config
  // With REDIS_URL only (ioredis is not even loaded otherwise): shared cache, fleet lock, shared counters.
  const fleet: ScaleOut | undefined = REDIS_URL === undefined
    ? undefined
    : await (await import('./redis/scale-out.ts')).scaleOut({
      config: { ...config, REDIS_URL },
      logger,
      metrics: (): Metrics => metrics,
      fetch: async (signal, requestId) => await upstream.fetch(signal, requestId),
      freshness,
      now
    })
  const metrics = new Metrics({
    upstream: () => upstream.status,
    redis: fleet === undefined ? undefined : () => fleet.link.state,
    logLinesDropped: () => sink.dropped,
    logBufferBytes: () => sink.pending
  })
  guardConnections(app.server, {
    maxConnections: config.MAX_CONNECTIONS ?? defaultMaxConnections(descriptorLimit()),
    log: logger.child({ component: 'connections' }),
    onRefused: () => { metrics.connectionsRefused.inc() }
  })
  const shared = fleet?.cache
  const cache = new ProfileCache<ProfileSnapshot, View>({
    freshness,
    load: async (signal, { notBefore, requestId, current }) => {
      if (shared === undefined) {
        const fetchedAt = now()
        return { value: buildSnapshot(await upstream.fetch(signal, requestId), fetchedAt), fetchedAt, via: 'upstream' }
      }
      const loaded = await shared.load(signal, notBefore, requestId, current === undefined ? undefined : { value: current.value.profile, fetchedAt: current.fetchedAt })
      // Serialize again only for new data.
      const value = current?.fetchedAt === loaded.fetchedAt ? current.value : buildSnapshot(loaded.value, loaded.fetchedAt)
      return { ...loaded, value }
    },
    ...(shared === undefined ? {} : { confirmForMs: config.CACHE_L1_TTL_MS }),
    // A short circuit (open breaker, 429 cool-down) never went forward; anything else did, and failed.
    staleDetail: (error) => error instanceof UpstreamError && error.shortCircuit !== undefined ? error.shortCircuit : STALE_IF_ERROR,
    // Already logged by the upstream; the stale entry keeps serving.
    onBackgroundError: () => {},
    now
  })

  app.addHook('onClose', async () => {
    cache.clear()
    await client.close()
    await fleet?.link.close()
  })

  app.decorateRequest('identity', null as never)
  await app.register(problems)
  await app.register(accessLog, {
    metrics,
    // Access lines go to the log's destination directly, in pino's format (see access-log.ts).
    write: config.ACCESS_LOG && logger.isLevelEnabled('info') ? (line) => { sink.writeAccess(line) } : undefined,
    base: LOG_BASE
  })
  await app.register(browser, { corsOrigins: config.corsOrigins })
  app.addHook('onRequest', requireHost)
  await app.register(drain)
  // Load shedding: 503 problem+json with Retry-After past the event-loop delay or heap limits (probes exempt).
  await app.register(underPressure, {
    maxEventLoopDelay: config.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: config.MAX_HEAP_USED_BYTES,
    retryAfter: OVERLOAD_RETRY_AFTER_SECONDS,
    sampleInterval: deps.pressureSampleIntervalMs ?? 1000,
    customError: Overloaded
  })
  const jwt = config.JWT_JWKS_URL === undefined || config.JWT_ISSUER === undefined || config.JWT_AUDIENCE === undefined
    ? undefined
    : new (await import('./http/jwt.ts')).JwtVerifier({
      jwksUrl: config.JWT_JWKS_URL,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      algorithms: config.jwtAlgorithms,
      clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
      cooldownMs: config.JWT_JWKS_COOLDOWN_SECONDS * 1000
    })
  await app.register(openapi, { docsEnabled: config.DOCS_ENABLED, bearer: jwt !== undefined })
  await app.register(healthRoutes, {
    upstream: () => upstream.status,
    now,
    ...(fleet === undefined ? {} : { redis: () => ({ state: fleet.link.state, since: fleet.link.since }) })
  })
  metricsRoute(app, metrics, config.METRICS_TOKEN)
  await app.register(profileRoutes, {
    bearer: jwt !== undefined,
    cache,
    metrics,
    now,
    identify: identify({
      consumers: new ConsumerRegistry(config.consumers),
      jwt,
      defaultLimit: config.RATE_LIMIT_PER_MINUTE,
      anonymousLimit: config.ANONYMOUS_RATE_LIMIT_PER_MINUTE
    }),
    limiters: createLimiters({
      refreshPerMinute: config.REFRESH_PER_MINUTE,
      metrics,
      ...(fleet === undefined ? {} : { store: fleet.rateLimitStore })
    })
  })
  return app
}

export type App = Awaited<ReturnType<typeof buildApp>>
