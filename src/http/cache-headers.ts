import type { CacheOutcome } from '../cache/profile-cache.ts'

/** The cache's name in RFC 9211 Cache-Status. */
export const CACHE_NAME = 'vobiz-bff'

/** True when the request's Cache-Control asks for data fetched after it arrived (no-cache or max-age=0). */
export function wantsRefresh (cacheControl: string | undefined): boolean {
  if (cacheControl === undefined) return false
  for (const part of cacheControl.toLowerCase().split(',')) {
    const directive = part.trim()
    if (directive === 'no-cache' || /^max-age\s*=\s*"?0+"?$/.test(directive)) return true
  }
  return false
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
  const detail = refreshRefused ? '; detail=refresh-refused' : ''
  if (outcome.hit) return `${CACHE_NAME}; hit; ttl=${ttlSeconds}${detail}`
  const how = outcome.collapsed ? 'collapsed' : 'stored'
  return `${CACHE_NAME}; fwd=${outcome.fwd}; fwd-status=200; ${how}; ttl=${ttlSeconds}${detail}`
}

/**
 * The freshness headers of a cached representation: Cache-Control with the remaining freshness, Age,
 * ETag and Cache-Status. `ageMs` is how long ago the data was requested from Vobiz; `refreshRefused` says a
 * forced refresh was asked for but the caller's refresh budget was spent.
 */
export function freshnessHeaders (outcome: CacheOutcome, etag: string, ageMs: number, freshForMs: number, refreshRefused = false): Record<string, string> {
  const age = Math.max(0, Math.floor(ageMs / 1000))
  const remaining = Math.max(0, Math.floor((freshForMs - ageMs) / 1000))
  return {
    'cache-control': `private, max-age=${remaining}`,
    age: String(age),
    etag,
    'cache-status': cacheStatus(outcome, remaining, refreshRefused)
  }
}
