import type { FastifyReply, FastifyRequest } from 'fastify'
import { WINDOW_SECONDS } from './identity.ts'
import type { Metrics } from '../observability/metrics.ts'
import { MemoryCounterStore, type Count, type CounterStore } from '../rate-limit-counter.ts'
import { problem } from './problems.ts'

export interface Limiters {
  /**
   * After the identity is known: counts the request against the caller's budget (per consumer or JWT `sub`;
   * per IP without valid credentials), sets the RateLimit / RateLimit-Policy headers of
   * draft-ietf-httpapi-ratelimit-headers-10, and calls back with a 429 `rate_limited` problem (Retry-After)
   * when the budget is spent, or a 503 when the count cannot be taken. Synchronous with the in-memory store.
   */
  enforce: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void
  /** Takes one forced refresh from the caller's separate refresh budget; false when it is spent. */
  allowRefresh: (request: FastifyRequest) => Promise<boolean>
}

const WINDOW_MS = WINDOW_SECONDS * 1000

export interface LimiterOptions {
  refreshPerMinute: number
  metrics: Metrics
  /** Makes a counter store (default: an in-memory LRU of MAX_CALLERS callers). */
  store?: () => CounterStore
}

/** The store could not count (REDIS_RATE_LIMIT_FALLBACK=closed while Redis is unreachable): 503. */
function uncountable (): Error {
  return problem('service_unavailable', 'Rate limits cannot be checked right now (their shared store is unreachable). Retry after the time given in Retry-After.', { 'retry-after': '1' })
}

/**
 * Per-caller limits (a fixed one-minute window per caller) on the project's own counter stores: one counter
 * step per request — synchronous in memory, one Lua call with Redis — so the headers are the current draft's
 * and the 429 is problem+json. (@fastify/rate-limit's public API, createRateLimit(), answers through a
 * promise on every request; its stores are internals: both were why it is not used.)
 */
export function createLimiters (options: LimiterOptions): Limiters {
  const makeStore = options.store ?? (() => new MemoryCounterStore())
  // Callers without credentials count in a store of their own: rotating addresses can fill it, but never
  // evict the count of a consumer.
  const perCaller = makeStore()
  const perAnonymous = makeStore()
  const refreshes = makeStore()

  return {
    enforce (request, reply, done) {
      const { identity } = request
      const store = identity.kind === 'anonymous' ? perAnonymous : perCaller
      store.incr(identity.rateKey, (err, count) => {
        if (err !== null) {
          done(uncountable())
          return
        }
        const { current, ttl } = count as Count
        const reset = Math.ceil(ttl / 1000)
        reply.header('ratelimit-policy', identity.policyHeader)
        reply.header('ratelimit', `${identity.policy};r=${Math.max(0, identity.limit - current)};t=${reset}`)
        if (current <= identity.limit) {
          done()
          return
        }
        options.metrics.rateLimited.inc({ consumer: identity.kind === 'api-key' ? identity.name : identity.kind })
        const who = identity.kind === 'anonymous' ? 'client address' : 'caller'
        done(problem('rate_limited', `This ${who} has used its ${identity.limit} requests for this minute. Retry after the time given in Retry-After.`, { 'retry-after': String(reset) }))
      }, WINDOW_MS)
    },
    async allowRefresh (request) {
      const { rateKey } = request.identity
      // Uncountable: refused, so the request is answered from the cache.
      return await new Promise((resolve) => {
        refreshes.incr(`refresh:${rateKey}`, (err, count) => {
          resolve(err === null && (count as Count).current <= options.refreshPerMinute)
        }, WINDOW_MS)
      })
    }
  }
}
