import type { FastifyRateLimitStore } from '@fastify/rate-limit'
import LocalStore from '@fastify/rate-limit/store/LocalStore.js'
import RedisStore from '@fastify/rate-limit/store/RedisStore.js'
import { MAX_CALLERS, type CounterStore } from '../rate-limit-counter.ts'
import type { RedisLink } from './link.ts'

/** How rate limits behave while Redis is unreachable. */
export type RateLimitFallback = 'local' | 'open' | 'closed'

/** What the store reports with REDIS_RATE_LIMIT_FALLBACK=closed while Redis is unreachable. */
export class RateLimitUnavailableError extends Error {
  override readonly name = 'RateLimitUnavailableError'
}

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

export interface SharedStoreOptions {
  prefix: string
  fallback: RateLimitFallback
  /** Called for each count taken without Redis (for metrics). */
  onFallback: () => void
}

/**
 * Makes counter stores that count in Redis (@fastify/rate-limit's own RedisStore, one Lua call per request)
 * while Redis is usable, so that every replica draws on the same budget, and otherwise fall back: `local`
 * counts in the plugin's LocalStore (each replica then allows the full budget), `open` lets requests through
 * uncounted, `closed` fails the count (the route answers 503).
 */
export function sharedRateLimitStore (link: RedisLink, options: SharedStoreOptions): () => CounterStore {
  const { prefix, fallback, onFallback } = options
  class SharedRateLimitStore implements CounterStore {
    readonly #shared = new RedisStore(false, false, link.client, `${prefix}rate:`)
    readonly #local = new LocalStore(false, false, MAX_CALLERS)

    incr (key: string, callback: Callback, timeWindow: number, max: number): void {
      if (!link.usable) {
        this.#fallback(key, callback, timeWindow, max)
        return
      }
      const counted = new Promise<Parameters<Callback>[1]>((resolve, reject) => {
        this.#shared.incr(key, (err, result) => { if (err === null) resolve(result); else reject(err) }, timeWindow, max)
      })
      link.bounded(counted).then((result) => { callback(null, result) }, (err: unknown) => {
        link.failed(err)
        this.#fallback(key, callback, timeWindow, max)
      })
    }

    #fallback (key: string, callback: Callback, timeWindow: number, max: number): void {
      onFallback()
      switch (fallback) {
        case 'local': this.#local.incr(key, callback, timeWindow, max); break
        case 'open': callback(null, { current: 0, ttl: timeWindow }); break
        case 'closed': callback(new RateLimitUnavailableError('rate limits cannot be counted while Redis is unreachable')); break
      }
    }
  }
  return () => new SharedRateLimitStore()
}
