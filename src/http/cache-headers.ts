import { HIT, type Outcome } from '../outcome.ts'

/** The cache's name in RFC 9211 Cache-Status. */
export const CACHE_NAME = 'vobiz-bff'

/** What a request's Cache-Control asks of the cache. */
export type RequestDirective = 'refresh' | 'only-if-cached' | undefined

/**
 * `refresh` for no-cache or max-age=0 (data fetched after the request arrived), `only-if-cached` for
 * only-if-cached (never go upstream; it wins over the others), otherwise nothing.
 */
export function requestDirective (cacheControl: string | undefined): RequestDirective {
  if (cacheControl === undefined) return undefined
  let directive: RequestDirective
  for (const part of cacheControl.toLowerCase().split(',')) {
    const token = part.trim()
    if (token === 'only-if-cached') return 'only-if-cached'
    if (token === 'no-cache' || /^max-age\s*=\s*"?0+"?$/.test(token)) directive = 'refresh'
  }
  return directive
}

/**
 * RFC 9110 §13.1.1 If-Match, strong comparison: true for `*` (a current representation exists) or a listed
 * strong tag equal to ours; a weak tag (`W/"…"`) never matches. False means 412.
 */
export function matchesIfMatch (ifMatch: string, etag: string): boolean {
  for (const part of ifMatch.split(',')) {
    const tag = part.trim()
    if (tag === '*' || tag === etag) return true
  }
  return false
}

/** RFC 9110 §13.1.2 weak comparison of If-None-Match against our (strong) ETag; `*` matches any. */
export function matchesIfNoneMatch (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim()
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true
  }
  return false
}

/**
 * RFC 9211 Cache-Status for an outcome. `hit` whenever this request was not forwarded to Vobiz (§2.1), even
 * when the answer is stale (a negative ttl says so, §2.4): stale-while-revalidate, only-if-cached, an open
 * breaker, a 429 cool-down. `fwd=<reason>` when it was (§2.2): a miss, stale data, a client's forced refresh;
 * `fwd=stale` with `detail=stale-if-error` when the forward failed and the stale copy was served instead.
 */
function cacheStatus (outcome: Outcome, ttlSeconds: number, refreshRefused: boolean): string {
  const refused = refreshRefused ? '; detail=refresh-refused' : ''
  switch (outcome.kind) {
    case 'hit': return `${CACHE_NAME}; hit; ttl=${ttlSeconds}${outcome.detail === undefined ? refused : `; detail=${outcome.detail}`}`
    case 'fetched': return `${CACHE_NAME}; fwd=${outcome.fwd}; fwd-status=200; ${outcome.collapsed ? 'collapsed' : 'stored'}; ttl=${ttlSeconds}${refused}`
    // Staleness is the more important news: its reason takes the one detail slot.
    case 'stale': return `${CACHE_NAME}; ${outcome.detail === 'stale-if-error' ? 'fwd=stale' : 'hit'}; ttl=${ttlSeconds}; detail=${outcome.detail}`
  }
}

/**
 * The freshness headers of a cached representation: Cache-Control, Age, ETag and Cache-Status. `ageMs` is
 * how long ago the data was requested from Vobiz; `freshForMs` the class's freshness lifetime;
 * `refreshRefused` says a forced refresh was asked for but the caller's refresh budget was spent.
 *
 * RFC 9111 §4.2: a client computes what freshness is left as `max-age` − `Age` (its current_age is at least
 * Age, §4.2.3). So `max-age` is the class's whole freshness lifetime and `Age` the true age, in whole seconds,
 * and Cache-Status `ttl` (RFC 9211 §2.4) is exactly their difference: 0 or negative once the data is stale, which
 * every standard cache then reads as stale too.
 */
export function freshnessHeaders (outcome: Outcome, etag: string, ageMs: number, freshForMs: number, refreshRefused = false): Record<string, string> {
  const age = Math.max(0, Math.floor(ageMs / 1000))
  const maxAge = Math.floor(freshForMs / 1000)
  return {
    'cache-control': `private, max-age=${maxAge}`,
    age: String(age),
    etag,
    'cache-status': cacheStatus(outcome, maxAge - age, refreshRefused)
  }
}

/**
 * freshnessHeaders for plain hits, plus the content type, built once per representation and second of age:
 * a hit then builds no strings. `freshForMs` is the class's freshness.
 */
export function hitHeaders (freshForMs: number, contentType: string): (etag: string, ageMs: number) => Record<string, string> {
  let last: { etag: string, age: number, headers: Record<string, string> } | undefined
  return function headersFor (etag, ageMs) {
    const age = Math.floor(ageMs / 1000)
    if (last === undefined || last.etag !== etag || last.age !== age) {
      last = { etag, age, headers: { ...freshnessHeaders(HIT, etag, ageMs, freshForMs), 'content-type': contentType } }
    }
    return last.headers
  }
}
