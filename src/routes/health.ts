import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { problemResponse } from '../schemas/responses.ts'
import { REDIS_STATES } from '../redis/state.ts'
import { BREAKER_STATES } from '../vobiz/hold-off.ts'
import { CREDENTIALS_RETRY_MS, credentialsRejected } from '../readiness.ts'

export interface HealthRoutesOptions {
  /** The clock the upstream uses, for what is left of a cool-down. */
  now: () => number
}

const iso = (ms: number | undefined) => ms === undefined ? null : new Date(ms).toISOString()

const Upstream = Type.Object({
  breaker: Type.Enum(BREAKER_STATES),
  last_success_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  last_error: Type.Union([Type.Object({ code: Type.String(), at: Type.String({ format: 'date-time' }) }), Type.Null()]),
  cooling_down_until: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'While the service holds off Vobiz after a 429: until when' }),
  cool_down_remaining_seconds: Type.Integer({ minimum: 0, description: 'Seconds left of that cool-down (0: none). One 429 holds off at most UPSTREAM_MAX_RETRY_AFTER_SECONDS' }),
  credentials: Type.Union([Type.Literal('unknown'), Type.Literal('accepted'), Type.Literal('rejected')], { description: 'Vobiz\'s verdict on the partner credentials: `accepted` by the last successful fetch, `rejected` by a 401/403 since, `unknown` before either' })
}, { description: 'What Vobiz has been doing. Vobiz being down does not make the service unready (stale data can still be served); only credentials Vobiz rejected before any success do.' })

const Redis = Type.Union([
  Type.Object({ state: Type.Enum(REDIS_STATES), since: Type.String({ format: 'date-time' }) }),
  Type.Null()
], { description: 'null without REDIS_URL. `unavailable`: this replica serves from its local cache and local rate limits until Redis is back. Informational: it does not make the service unready.' })

const Ready = Type.Object({ status: Type.Literal('ready'), upstream: Upstream, redis: Redis }, { description: 'Ready to serve' })

/** A replica whose credentials Vobiz rejected and that never fetched successfully: a rollout with wrong credentials halts here. */
const Unready = Type.Object({
  status: Type.Literal('unready'),
  reason: Type.Literal('credentials_rejected', { description: 'Vobiz answered 401/403 to the fetches this replica made, and none succeeded: the partner credentials in its configuration are wrong' }),
  upstream: Upstream,
  redis: Redis
}, { description: 'Not ready: this replica never fetched successfully and Vobiz rejected its credentials' })

/** The drain plugin answers every request once shutdown has begun (src/http/drain.ts). */
const ShuttingDown = problemResponse('Shutting down: from the moment shutdown begins, every request, readiness included, is answered 503 with `Connection: close` and Retry-After', ['service_unavailable'])

/**
 * Probes: unauthenticated, not rate-limited, exempt from load shedding, and tagged `health` in the spec
 * (apart from the API). Readiness fails once shutdown has begun, and while Vobiz rejects the credentials of
 * a replica that never fetched successfully; never because Vobiz is down.
 */
const healthRoutes: FastifyPluginAsyncTypebox<HealthRoutesOptions> = async (app, { now }) => {
  const exempt = { pressureHandler: () => undefined }

  app.get('/health/live', {
    config: exempt,
    schema: {
      operationId: 'getLiveness',
      tags: ['health'],
      summary: 'Liveness: the process can serve',
      description: 'For a liveness probe: 200 while the event loop answers. No credentials, no rate limit, never shed.',
      security: [],
      response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is alive' }) }
    }
  }, async () => ({ status: 'ok' as const }))

  app.get('/health/ready', {
    config: exempt,
    schema: {
      tags: ['health'],
      operationId: 'getReadiness',
      summary: 'Readiness: started, credentials not rejected, and not shutting down',
      description: 'For a readiness probe: 200 once started; 503 from the moment shutdown begins, and 503 `credentials_rejected` while this replica has never fetched successfully and Vobiz rejected its credentials (so a rollout with wrong credentials halts while the old replicas serve). The body reports Vobiz and Redis as this replica sees them; neither being down makes it unready.',
      security: [],
      response: {
        200: Ready,
        503: {
          description: `${ShuttingDown.description}; or not ready because Vobiz rejected the credentials (application/json)`,
          headers: ShuttingDown.headers,
          content: { ...ShuttingDown.content, 'application/json': { schema: Unready } }
        }
      }
    }
  }, async (_request, reply) => {
    const { breaker, lastSuccessAt, lastError, coolingDownUntil, credentials } = app.upstream.status
    const redis = app.fleet?.link
    const state = {
      upstream: {
        breaker,
        last_success_at: iso(lastSuccessAt),
        last_error: lastError === undefined ? null : { code: lastError.code, at: new Date(lastError.at).toISOString() },
        cooling_down_until: iso(coolingDownUntil),
        cool_down_remaining_seconds: coolingDownUntil === undefined ? 0 : Math.ceil((coolingDownUntil - now()) / 1000),
        credentials
      },
      redis: redis === undefined ? null : { state: redis.state, since: new Date(redis.since).toISOString() }
    }
    reply.header('cache-control', 'no-store')
    if (credentialsRejected({ credentials, lastSuccessAt })) {
      // The start-up fetch tries again in that time (src/plugins/startup-fetch.ts).
      reply.code(503).type('application/json').header('retry-after', String(CREDENTIALS_RETRY_MS / 1000))
      return { status: 'unready' as const, reason: 'credentials_rejected' as const, ...state }
    }
    return { status: 'ready' as const, ...state }
  })
}

export default healthRoutes
