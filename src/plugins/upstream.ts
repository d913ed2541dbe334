import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { secondsToMs, type Clock } from '../clock.ts'
import { vobizCredentials, type Config } from '../config.ts'
import type { Profile } from '../schemas/profile.ts'
import { VobizClient } from '../vobiz/client.ts'
import { UpstreamError } from '../vobiz/errors.ts'
import { normalizeProfile } from '../vobiz/profile.ts'
import { ResilientUpstream } from '../vobiz/upstream.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Vobiz: one fetch of the partner profile, with retries, the breaker and the cool-down. */
    upstream: ResilientUpstream<Profile>
  }
}

export interface UpstreamPluginOptions {
  config: Config
  clock: Clock
}

/** Without credentials nothing is sent to Vobiz: every fetch fails as a credentials failure would. */
const withoutCredentials: Pick<VobizClient, 'attempt' | 'close'> = {
  attempt: async () => { throw new UpstreamError('upstream_auth_failed', 'no Vobiz credentials are configured (VOBIZ_AUTH_ID / VOBIZ_AUTH_TOKEN)') },
  close: async () => {}
}

/** The Vobiz client (undici, one attempt) behind retries, deadline, breaker and cool-down, then the normaliser. */
async function upstream (app: FastifyInstance, { config, clock }: UpstreamPluginOptions): Promise<void> {
  const logger = app.log.child({ component: 'vobiz' })
  const credentials = vobizCredentials(config)
  const client = credentials === undefined
    ? withoutCredentials
    : new VobizClient({
      baseUrl: config.VOBIZ_BASE_URL,
      ...credentials,
      attemptTimeoutMs: Math.min(config.UPSTREAM_ATTEMPT_TIMEOUT_MS, config.UPSTREAM_TIMEOUT_MS),
      maxBodyBytes: config.UPSTREAM_MAX_BODY_BYTES,
      maxRetryAfterSeconds: config.UPSTREAM_MAX_RETRY_AFTER_SECONDS
    })
  const upstream = new ResilientUpstream<Profile>({
    client,
    parse: (raw) => {
      const { profile, dropped } = normalizeProfile(raw)
      if (dropped.length > 0) logger.warn({ dropped }, 'vobiz profile fields with unusable values were omitted')
      return profile
    },
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    attemptTimeoutMs: config.UPSTREAM_ATTEMPT_TIMEOUT_MS,
    retries: config.UPSTREAM_RETRIES,
    breakerThreshold: config.BREAKER_FAILURE_THRESHOLD,
    breakerOpenMs: secondsToMs(config.BREAKER_OPEN_SECONDS),
    // With REDIS_URL the breaker and cool-down are the fleet's (docs/adr/0001-one-breaker.md).
    ...(app.fleet === null ? {} : { holdOffStore: app.fleet.holdOffStore }),
    logger,
    clock,
    observe: app.metrics.observeFetch
  })
  app.metrics.watch({ upstream: () => upstream.status, lastSuccessAt: () => upstream.status.lastSuccessAt })
  app.decorate('upstream', upstream)
  app.addHook('onClose', async () => { await client.close() })
}

export default fp(upstream, { name: 'upstream', fastify: '5.x', dependencies: ['metrics', 'fleet'] })
