import type { FastifyRateLimitStore } from '@fastify/rate-limit'

/**
 * The contract between the rate limiter (src/http/rate-limit.ts) and the counter stores that implement it
 * (in memory, or src/redis/rate-limit-store.ts): the part of a @fastify/rate-limit store used, one counter step.
 */
export type CounterStore = Pick<FastifyRateLimitStore, 'incr'>

/** Callers whose counters are kept in memory (LRU), per store. */
export const MAX_CALLERS = 10_000
