import type { Freshness } from './cache/freshness-cache.ts'
import { secondsToMs } from './clock.ts'
import type { Config } from './config.ts'
import type { View } from './profile-snapshot.ts'

/**
 * How long each view may be served, from the configuration. The business rule lives here: a balance checked
 * before a transfer must wait for fresh data, so the balance has no stale-while-revalidate (only
 * stale-if-error, when Vobiz fails).
 */
export function freshnessPolicy (config: Config): Record<View, Freshness> {
  return {
    profile: {
      ttlMs: secondsToMs(config.PROFILE_TTL_SECONDS),
      staleWhileRevalidateMs: secondsToMs(config.PROFILE_STALE_WHILE_REVALIDATE_SECONDS),
      staleIfErrorMs: secondsToMs(config.PROFILE_STALE_IF_ERROR_SECONDS)
    },
    balance: {
      ttlMs: secondsToMs(config.BALANCE_TTL_SECONDS),
      staleWhileRevalidateMs: 0,
      staleIfErrorMs: secondsToMs(config.BALANCE_STALE_IF_ERROR_SECONDS)
    }
  }
}

/** How long any view may still serve an entry: how long a shared copy is worth keeping. */
export function longestUse (policy: Record<View, Freshness>): number {
  return Math.max(...Object.values(policy).map((f) => f.ttlMs + Math.max(f.staleWhileRevalidateMs, f.staleIfErrorMs)))
}
