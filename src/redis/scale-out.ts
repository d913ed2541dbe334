import type { Logger } from 'pino'
import { Value } from 'typebox/value'
import type { Freshness } from '../cache/profile-cache.ts'
import type { Config } from '../config.ts'
import type { Metrics } from '../observability/metrics.ts'
import type { CounterStore } from '../rate-limit-counter.ts'
import { Profile } from '../schemas/profile.ts'
import { RedisLink } from './link.ts'
import { sharedRateLimitStore } from './rate-limit-store.ts'
import { SharedCache } from './shared-cache.ts'

/** At start, how long to wait for Redis before serving without it (it is used as soon as it connects). */
const CONNECT_WAIT_MS = 1000

/** What REDIS_URL adds to a replica: the link, the shared cache with its fleet lock, and shared counters. */
export interface ScaleOut {
  link: RedisLink
  cache: SharedCache<Profile>
  rateLimitStore: () => CounterStore
}

export interface ScaleOutOptions {
  config: Config & { REDIS_URL: string }
  logger: Logger
  metrics: () => Metrics
  fetch: (signal: AbortSignal, requestId: string | undefined) => Promise<Profile>
  freshness: Record<string, Freshness>
  now: () => number
}

/**
 * Connects to Redis (waiting at most a second: the service starts either way) and builds the shared parts.
 * Loaded only with REDIS_URL, so that a single process never loads ioredis.
 */
export async function scaleOut (options: ScaleOutOptions): Promise<ScaleOut> {
  const { config, logger, metrics, fetch, freshness, now } = options
  const link = new RedisLink({ url: config.REDIS_URL, timeoutMs: config.REDIS_TIMEOUT_MS, logger: logger.child({ component: 'redis' }) })
  const cache = new SharedCache<Profile>({
    link,
    prefix: config.REDIS_KEY_PREFIX,
    fetch,
    isValue: (value): value is Profile => Value.Check(Profile, value),
    // As long as any class may still serve the entry.
    entryTtlMs: Math.max(...Object.values(freshness).map((f) => f.ttlMs + Math.max(f.staleWhileRevalidateMs, f.staleIfErrorMs))),
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    breakerThreshold: config.BREAKER_FAILURE_THRESHOLD,
    breakerOpenMs: config.BREAKER_OPEN_SECONDS * 1000,
    logger: logger.child({ component: 'shared-cache' }),
    observe: (result) => {
      metrics().redis?.sharedLoads.inc({ result })
      if (result === 'local') metrics().redis?.fallbacks.inc({ operation: 'cache' })
    },
    now
  })
  const rateLimitStore = sharedRateLimitStore(link, {
    prefix: config.REDIS_KEY_PREFIX,
    fallback: config.REDIS_RATE_LIMIT_FALLBACK,
    onFallback: () => metrics().redis?.fallbacks.inc({ operation: 'rate-limit' })
  })
  await link.connect(CONNECT_WAIT_MS)
  return { link, cache, rateLimitStore }
}
