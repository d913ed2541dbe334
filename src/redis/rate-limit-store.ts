import { MAX_CALLERS, MemoryCounterStore, type Count, type CounterStore } from '../rate-limit-counter.ts'
import type { RedisLink } from './link.ts'

/**
 * One fixed-window step in Redis, atomically: count, start the window on the first request (PEXPIRE), and
 * return the count with the milliseconds left. A key that somehow lost its expiry gets a new window.
 */
const INCR = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if current == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`

/** How rate limits behave while Redis is unreachable. */
export type RateLimitFallback = 'local' | 'open' | 'closed'

/** What the store reports with REDIS_RATE_LIMIT_FALLBACK=closed while Redis is unreachable. */
export class RateLimitUnavailableError extends Error {
  override readonly name = 'RateLimitUnavailableError'
}

type Callback = Parameters<CounterStore['incr']>[1]

export interface SharedStoreOptions {
  prefix: string
  fallback: RateLimitFallback
  /** Called for each count taken without Redis (for metrics). */
  onFallback: () => void
}

/**
 * Makes counter stores that count in Redis (one Lua call per request, keys `<prefix>rate:<caller>`) while
 * Redis is usable, so that every replica draws on the same budget, and otherwise fall back: `local` counts in
 * this replica's memory (each replica then allows the full budget), `open` lets requests through uncounted,
 * `closed` fails the count (the route answers 503).
 */
export function sharedRateLimitStore (link: RedisLink, options: SharedStoreOptions): () => CounterStore {
  const { prefix, fallback, onFallback } = options
  class SharedRateLimitStore implements CounterStore {
    readonly #local = new MemoryCounterStore(MAX_CALLERS)

    incr (key: string, callback: Callback, timeWindow: number): void {
      if (!link.usable) {
        this.#fallback(key, callback, timeWindow)
        return
      }
      const counted = link.client.eval(INCR, 1, `${prefix}rate:${key}`, timeWindow) as Promise<[number, number]>
      link.bounded(counted).then(([current, ttl]): void => { callback(null, { current, ttl } satisfies Count) }, (err: unknown) => {
        link.failed(err)
        this.#fallback(key, callback, timeWindow)
      })
    }

    #fallback (key: string, callback: Callback, timeWindow: number): void {
      onFallback()
      switch (fallback) {
        case 'local': this.#local.incr(key, callback, timeWindow); break
        case 'open': callback(null, { current: 0, ttl: timeWindow }); break
        case 'closed': callback(new RateLimitUnavailableError('rate limits cannot be counted while Redis is unreachable')); break
      }
    }
  }
  return () => new SharedRateLimitStore()
}
