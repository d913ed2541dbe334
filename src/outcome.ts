import type { ShortCircuit } from './vobiz/errors.ts'

/** Why a request went upstream: nothing cached, cached but too old for its view, or the client asked (no-cache). */
export type Forward = 'miss' | 'stale' | 'request'

/** Why a copy past its freshness was served: not forwarded (the first four), or forwarded and failed. */
export type StaleReason = 'stale-while-revalidate' | 'only-if-cached' | ShortCircuit | 'stale-if-error'

/**
 * How one request was answered by the cache: the one vocabulary for it, mapped once to the metric labels
 * (`metricLabels`, here) and once to RFC 9211 Cache-Status (src/http/cache-headers.ts).
 */
export type Outcome =
  /** Served fresh from cache; `refresh-failed` when a forced refresh failed and this copy was still fresh. */
  | { kind: 'hit', detail?: 'refresh-failed' }
  /** Fetched for this request; `collapsed` when it waited on a fetch another request (or replica) started. */
  | { kind: 'fetched', fwd: Forward, collapsed: boolean }
  /** Served past its freshness, and why. */
  | { kind: 'stale', detail: StaleReason }

export const HIT: Outcome = Object.freeze({ kind: 'hit' })

/** The labels of `vobiz_bff_cache_outcomes_total` for an outcome. */
export function metricLabels (outcome: Outcome): { outcome: 'hit' | 'stale' | 'collapsed' | 'refresh' | 'miss', detail: string } {
  switch (outcome.kind) {
    case 'hit': return { outcome: 'hit', detail: outcome.detail ?? '' }
    case 'stale': return { outcome: 'stale', detail: outcome.detail }
    case 'fetched': return { outcome: outcome.collapsed ? 'collapsed' : outcome.fwd === 'request' ? 'refresh' : 'miss', detail: '' }
  }
}
