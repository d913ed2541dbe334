import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, RawServerDefault } from 'fastify'
import type { Metrics } from './metrics.ts'
import { problem } from './problems.ts'

export interface Limiters {
  /**
   * onRequest, after `identify`: counts the request against the caller's budget (per consumer or JWT `sub`;
   * per IP without valid credentials), sets the RateLimit / RateLimit-Policy headers of
   * draft-ietf-httpapi-ratelimit-headers-10, and answers 429 `rate_limited` with Retry-After when it is spent.
   */
  enforce: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  /** Takes one forced refresh from the caller's separate refresh budget; false when it is spent. */
  allowRefresh: (request: FastifyRequest) => Promise<boolean>
}

const WINDOW_MS = 60_000
/** Callers whose counters are kept in memory (LRU). */
export const MAX_CALLERS = 10_000

export interface LimiterOptions {
  refreshPerMinute: number
  metrics: Metrics
  maxCallers?: number
  /** Where the counters live (default: the plugin's in-memory store). */
  store?: FastifyRateLimitStoreCtor
}

/** The store could not count (REDIS_RATE_LIMIT_FALLBACK=closed while Redis is unreachable): 503. */
function uncountable (): never {
  throw problem('service_unavailable', 'Rate limits cannot be checked right now (their shared store is unreachable). Retry after the time given in Retry-After.', { 'retry-after': '1' })
}

/**
 * Per-caller limits on @fastify/rate-limit's store (an LRU of counters, bounded at `maxCallers`), used through
 * its programmatic `createRateLimit` so that the headers are the current draft's and the 429 is problem+json.
 */
export async function createLimiters (app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, any, any>, options: LimiterOptions): Promise<Limiters> {
  await app.register(rateLimit, { global: false, cache: options.maxCallers ?? MAX_CALLERS, ...(options.store === undefined ? {} : { store: options.store }) })
  const perCaller = app.createRateLimit({
    keyGenerator: (request) => request.identity.rateKey,
    max: (request) => request.identity.limit,
    timeWindow: WINDOW_MS
  })
  const refreshes = app.createRateLimit({
    keyGenerator: (request) => `refresh:${request.identity.rateKey}`,
    max: options.refreshPerMinute,
    timeWindow: WINDOW_MS
  })

  return {
    async enforce (request, reply) {
      const result = await perCaller(request).catch(uncountable)
      /* c8 ignore next */
      if (result.isAllowed) return // only with an allow list, which is not configured
      const policy = request.identity.kind === 'anonymous' ? 'anonymous' : 'default'
      reply.header('ratelimit-policy', `"${policy}";q=${result.max};w=${WINDOW_MS / 1000}`)
      reply.header('ratelimit', `"${policy}";r=${result.remaining};t=${result.ttlInSeconds}`)
      if (result.isExceeded) {
        const { identity } = request
        options.metrics.rateLimited.inc({ consumer: identity.kind === 'api-key' ? identity.name : identity.kind })
        throw problem('rate_limited', `This ${policy === 'default' ? 'caller' : 'client address'} has used its ${result.max} requests for this minute. Retry after the time given in Retry-After.`,
          { 'retry-after': String(result.ttlInSeconds) })
      }
    },
    async allowRefresh (request) {
      // Uncountable: refused, so the request is answered from the cache.
      const result = await refreshes(request).catch(() => undefined)
      return result !== undefined && (result.isAllowed || !result.isExceeded)
    }
  }
}
