/**
 * Configuration hygiene: variables that look meant for this service but are not among its variables — a
 * misspelling (`PROFILE_TTL_SECOND`) would otherwise be silently ignored.
 */

/** Prefixes only this service's variables use. */
const OUR_PREFIXES = ['VOBIZ_', 'PROFILE_', 'BALANCE_', 'UPSTREAM_', 'BREAKER_', 'CONSUMERS', 'JWT_', 'CORS_', 'METRICS_', 'STARTUP_', 'CACHE_L1_', 'ANONYMOUS_', 'REFRESH_', 'RATE_LIMIT_', 'EVENTS_', 'WEBHOOKS_']

/**
 * What Kubernetes injects for every Service in the namespace (`<NAME>_SERVICE_HOST`, `<NAME>_PORT_80_TCP`, …):
 * a Service named after this one must not read as a misspelling.
 */
const SERVICE_LINK = /_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_\d+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)?)$/

/** Levenshtein distance, stopping early past `max`. */
export function editDistance (a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > max) return max + 1
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    let best = i
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      const value = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, (previous[j - 1] as number) + cost)
      current.push(value)
      best = Math.min(best, value)
    }
    if (best > max) return max + 1
    previous = current
  }
  return previous[b.length] as number
}

/**
 * One line per variable in `env` that is not one of `known` but looks meant as one: within edit distance 2
 * of one (1 for names of up to 7 characters, so that HOME is not taken for HOST) — naming it — or sharing
 * one of this service's prefixes. `strict` (STRICT_CONFIG): the lines are start-up problems, so they do not
 * say the variable is ignored.
 */
export function unknownVariables (env: NodeJS.ProcessEnv, known: readonly string[], strict = false): string[] {
  const consequence = strict ? ' (STRICT_CONFIG=true: start-up stops)' : ' and is ignored'
  const ours = new Set(known)
  const lines: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (ours.has(name) || SERVICE_LINK.test(name)) continue
    let closest = ''
    let distance = Number.POSITIVE_INFINITY
    for (const candidate of known) {
      const d = editDistance(name, candidate, distance)
      if (d < distance) {
        closest = candidate
        distance = d
      }
    }
    if (distance <= (name.length <= 7 ? 1 : 2)) {
      lines.push(`${name} is not a variable of this service${consequence}; did you mean ${closest}?`)
    } else if (OUR_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      lines.push(`${name} is not a variable of this service${consequence}; they are listed in docs/configuration.md`)
    }
  }
  return lines
}
