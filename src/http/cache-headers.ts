import { HIT, type CacheOutcome } from '../cache/profile-cache.ts'

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

/** RFC 9110 weak comparison of If-None-Match against our (strong) ETag; `*` matches any. */
export function matchesIfNoneMatch (ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  for (const part of ifNoneMatch.split(',')) {
    const tag = part.trim()
    if (tag === '*' || tag === etag || tag === `W/${etag}`) return true
  }
  return false
}

function cacheStatus (outcome: CacheOutcome, ttlSeconds: number, refreshRefused: boolean): string {
  const refused = refreshRefused ? '; detail=refresh-refused' : ''
  switch (outcome.kind) {
    case 'hit': return `${CACHE_NAME}; hit; ttl=${ttlSeconds}${outcome.detail === undefined ? refused : `; detail=${outcome.detail}`}`
    case 'fetched': return `${CACHE_NAME}; fwd=${outcome.fwd}; fwd-status=200; ${outcome.collapsed ? 'collapsed' : 'stored'}; ttl=${ttlSeconds}${refused}`
    // Staleness is the more important news: its reason takes the one detail slot.
    case 'stale': return `${CACHE_NAME}; fwd=stale; ttl=${ttlSeconds}; detail=${outcome.detail}`
  }
}

/**
 * The freshness headers of a cached representation: Cache-Control with the remaining freshness, Age,
 * ETag and Cache-Status. `ageMs` is how long ago the data was requested from Vobiz; `refreshRefused` says a
 * forced refresh was asked for but the caller's refresh budget was spent. A stale answer has max-age=0 and a
 * negative Cache-Status ttl (how long ago it stopped being fresh).
 */
export function freshnessHeaders (outcome: CacheOutcome, etag: string, ageMs: number, freshForMs: number, refreshRefused = false): Record<string, string> {
  const age = Math.max(0, Math.floor(ageMs / 1000))
  const leftMs = freshForMs - ageMs
  // Positive: whole seconds of freshness left. Negative (stale): whole seconds since it went stale, at least 1.
  const ttl = outcome.kind === 'stale' ? -Math.max(1, Math.floor(-leftMs / 1000)) : Math.max(0, Math.floor(leftMs / 1000))
  return {
    'cache-control': `private, max-age=${Math.max(0, ttl)}`,
    age: String(age),
    etag,
    'cache-status': cacheStatus(outcome, ttl, refreshRefused)
  }
}

/**
 * freshnessHeaders for plain hits, plus the content type, built once per representation and second of age:
 * a hit then builds no strings. `freshForMs` is the class's freshness.
 */
export function hitHeaders (freshForMs: number, contentType: string): (etag: string, ageMs: number) => Record<string, string> {
  let last: { etag: string, age: number, left: number, headers: Record<string, string> } | undefined
  return function headersFor (etag, ageMs) {
    const age = Math.floor(ageMs / 1000)
    const left = Math.floor((freshForMs - ageMs) / 1000)
    if (last === undefined || last.etag !== etag || last.age !== age || last.left !== left) {
      last = { etag, age, left, headers: { ...freshnessHeaders(HIT, etag, ageMs, freshForMs), 'content-type': contentType } }
    }
    return last.headers
  }
}
