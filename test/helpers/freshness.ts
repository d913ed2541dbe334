/** What a standard cache reads from an answer (RFC 9111 §4.2), and what Cache-Status says (RFC 9211 §2.4). */
export interface Freshness {
  maxAge: number
  age: number
  /** max-age − Age: the freshness left as any client computes it. */
  left: number
  /** Cache-Status ttl: the freshness left as the service computes it. */
  ttl: number
}

export function freshnessOf (headers: Record<string, string>): Freshness {
  const maxAge = Number(/max-age=(\d+)/.exec(headers['cache-control'] ?? '')?.[1] ?? NaN)
  const age = Number(headers.age ?? NaN)
  const ttl = Number(/; ttl=(-?\d+)/.exec(headers['cache-status'] ?? '')?.[1] ?? NaN)
  return { maxAge, age, left: maxAge - age, ttl }
}
