import { LRUCache } from 'lru-cache'

/** One counter step: how many requests this window has seen, and the milliseconds left in it. */
export interface Count {
  current: number
  ttl: number
}

/**
 * The contract between the rate limiter (src/http/rate-limit.ts) and the counter stores that implement it:
 * this file's in-memory store, and src/redis/rate-limit-store.ts. One call per request counts it in a fixed
 * window of `timeWindow` ms that starts with the key's first request.
 */
export interface CounterStore {
  incr: (key: string, callback: (err: Error | null, count?: Count) => void, timeWindow: number) => void
}

/** Callers whose counters are kept in memory (LRU), per store. */
export const MAX_CALLERS = 10_000

/**
 * Fixed-window counters in this process, synchronous (a cache hit is answered without waiting for a
 * promise), in an LRU of `maxKeys` keys: the least recently counted caller is forgotten first.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #windows: LRUCache<string, { current: number, startedAt: number }>
  readonly #now: () => number

  constructor (maxKeys = MAX_CALLERS, now: () => number = Date.now) {
    this.#windows = new LRUCache({ max: maxKeys })
    this.#now = now
  }

  incr (key: string, callback: (err: Error | null, count?: Count) => void, timeWindow: number): void {
    const now = this.#now()
    let window = this.#windows.get(key)
    if (window === undefined || window.startedAt + timeWindow <= now) {
      window = { current: 0, startedAt: now }
      this.#windows.set(key, window)
    }
    window.current += 1
    callback(null, { current: window.current, ttl: timeWindow - (now - window.startedAt) })
  }
}
