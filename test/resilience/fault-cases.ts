import type { Fault } from '../../src/sandbox/sandbox.ts'

/**
 * The fault matrix: each upstream fault, how many attempts one fetch makes, and what a consumer sees with
 * and without a usable stale copy. fault-matrix.test.ts drives every case against the sandbox, and checks
 * that the table in docs/caching.md is rendered from these same cases.
 */
export interface FaultCase {
  name: string
  /** The sandbox fault; `refused` means nothing listens on the upstream port. */
  fault: Fault | 'refused'
  /** Upstream attempts one fetch makes (UPSTREAM_RETRIES=2). */
  attempts: number
  /** Without a usable cached copy. */
  empty: { status: number, code: string, retryAfter?: boolean }
  /** With a stale copy inside the stale-if-error window: always 200 from cache, with this Cache-Status detail. */
  staleDetail: string
}

export const FAULT_CASES: FaultCase[] = [
  { name: 'connection refused', fault: 'refused', attempts: 3, empty: { status: 502, code: 'upstream_unavailable' }, staleDetail: 'stale-if-error' },
  { name: 'timeout before headers', fault: { kind: 'delay', ms: 60_000 }, attempts: 3, empty: { status: 504, code: 'upstream_timeout' }, staleDetail: 'stale-if-error' },
  { name: 'headers, then a body that stalls', fault: { kind: 'stall-body', ms: 60_000 }, attempts: 1, empty: { status: 504, code: 'upstream_timeout' }, staleDetail: 'stale-if-error' },
  { name: 'connection reset mid-body', fault: { kind: 'reset', when: 'mid-body' }, attempts: 3, empty: { status: 502, code: 'upstream_unavailable' }, staleDetail: 'stale-if-error' },
  { name: '500', fault: { kind: 'status', status: 500 }, attempts: 1, empty: { status: 502, code: 'upstream_unavailable' }, staleDetail: 'stale-if-error' },
  { name: '502', fault: { kind: 'status', status: 502 }, attempts: 3, empty: { status: 502, code: 'upstream_unavailable' }, staleDetail: 'stale-if-error' },
  { name: '503', fault: { kind: 'status', status: 503 }, attempts: 3, empty: { status: 502, code: 'upstream_unavailable' }, staleDetail: 'stale-if-error' },
  { name: '504', fault: { kind: 'status', status: 504 }, attempts: 3, empty: { status: 502, code: 'upstream_unavailable' }, staleDetail: 'stale-if-error' },
  { name: '429, Retry-After in seconds (past the deadline)', fault: { kind: 'status', status: 429, headers: { 'retry-after': '30' } }, attempts: 1, empty: { status: 503, code: 'upstream_rate_limited', retryAfter: true }, staleDetail: 'stale-if-error' },
  { name: '429, Retry-After as an HTTP-date', fault: { kind: 'status', status: 429, headers: { 'retry-after': 'DATE+30' } }, attempts: 1, empty: { status: 503, code: 'upstream_rate_limited', retryAfter: true }, staleDetail: 'stale-if-error' },
  { name: '401', fault: { kind: 'status', status: 401 }, attempts: 1, empty: { status: 502, code: 'upstream_auth_failed' }, staleDetail: 'stale-if-error' },
  { name: '403', fault: { kind: 'status', status: 403 }, attempts: 1, empty: { status: 502, code: 'upstream_auth_failed' }, staleDetail: 'stale-if-error' },
  { name: 'malformed JSON', fault: { kind: 'malformed' }, attempts: 1, empty: { status: 502, code: 'upstream_invalid_response' }, staleDetail: 'stale-if-error' },
  { name: 'valid JSON violating the schema', fault: { kind: 'body', body: { id: 'p-1', balance: 'lots' } }, attempts: 1, empty: { status: 502, code: 'upstream_invalid_response' }, staleDetail: 'stale-if-error' },
  { name: 'body over the size cap', fault: { kind: 'oversize', bytes: 100_000 }, attempts: 1, empty: { status: 502, code: 'upstream_invalid_response' }, staleDetail: 'stale-if-error' }
]

/** The docs/caching.md table: one row per case. */
export function renderMatrix (cases: FaultCase[] = FAULT_CASES): string {
  const rows = cases.map((c) => {
    const empty = `${c.empty.status} \`${c.empty.code}\`${c.empty.retryAfter === true ? ' + `Retry-After`' : ''}`
    return `| ${c.name} | ${c.attempts} | ${empty} | 200 from cache, \`Cache-Status: …; fwd=stale; ttl=-N; detail=${c.staleDetail}\` |`
  })
  return ['| upstream fault | attempts per fetch | consumer sees, no usable copy | consumer sees, stale copy in the stale-if-error window |', '|---|---|---|---|', ...rows].join('\n')
}
