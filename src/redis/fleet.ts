import { Value } from 'typebox/value'
import type { Config } from '../config.ts'
import type { LogParent } from '../observability/log.ts'
import type { Metrics } from '../observability/metrics.ts'
import type { CounterStore } from '../rate-limit-counter.ts'
import { Profile } from '../schemas/profile.ts'
import { SharedHoldOffStore } from './hold-off-store.ts'
import { holderToken } from './lease.ts'
import { RedisLink } from './link.ts'
import { sharedRateLimitStore } from './rate-limit-store.ts'
import { SharedCache } from './shared-cache.ts'

/** At start, how long to wait for Redis before serving without it (it is used as soon as it connects). */
const CONNECT_WAIT_MS = 1000

/** The `result` label of vobiz_bff_shared_cache_loads_total for where a load past L1 got its value. */
const SHARED_LOAD_RESULTS = { cache: 'shared-hit', fleet: 'waited', upstream: 'fetched', local: 'local' } as const

/** What REDIS_URL adds to a replica: the link, and the state the fleet shares through it. */
export interface Fleet {
  link: RedisLink
  /** The breaker and cool-down state, fleet-wide. */
  holdOffStore: SharedHoldOffStore
  /** Rate-limit counters, fleet-wide. */
  rateLimitStore: () => CounterStore
  /** This replica's name in the leases it holds (host, pid and a UUID). */
  token: string
  /** The shared profile cache with its fleet lock, in front of this replica's own fetch. */
  sharedProfiles: (fetch: (signal: AbortSignal, requestId: string | undefined) => Promise<Profile>, entryTtlMs: number) => SharedCache<Profile>
}

export interface FleetOptions {
  config: Config & { REDIS_URL: string }
  logger: LogParent
  metrics: Metrics
  now: () => number
}

/**
 * Connects to Redis (waiting at most a second: the service starts either way) and builds the shared parts.
 * Loaded only with REDIS_URL, so that a single process never loads ioredis.
 */
export async function connectFleet ({ config, logger, metrics, now }: FleetOptions): Promise<Fleet> {
  const link = new RedisLink({ url: config.REDIS_URL, timeoutMs: config.REDIS_TIMEOUT_MS, logger: logger.child({ component: 'redis' }) })
  const rateLimitStore = sharedRateLimitStore(link, {
    prefix: config.REDIS_KEY_PREFIX,
    fallback: config.REDIS_RATE_LIMIT_FALLBACK,
    onFallback: () => metrics.redis?.fallbacks.inc({ operation: 'rate-limit' })
  })
  const sharedProfiles: Fleet['sharedProfiles'] = (fetch, entryTtlMs) => new SharedCache<Profile>({
    link,
    prefix: config.REDIS_KEY_PREFIX,
    fetch,
    isValue: (value): value is Profile => Value.Check(Profile, value),
    entryTtlMs,
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    logger: logger.child({ component: 'shared-cache' }),
    observe: (via) => {
      metrics.redis?.sharedLoads.inc({ result: SHARED_LOAD_RESULTS[via] })
      if (via === 'local') metrics.redis?.fallbacks.inc({ operation: 'cache' })
    },
    now
  })
  await link.connect(CONNECT_WAIT_MS)
  return { link, token: holderToken(), holdOffStore: new SharedHoldOffStore(link, config.REDIS_KEY_PREFIX, now), rateLimitStore, sharedProfiles }
}
