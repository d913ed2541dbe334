import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { secondsToMs } from '../clock.ts'
import { parseConsumerList, type Config } from '../config.ts'
import { ConsumerRegistry, type Consumer } from '../consumers.ts'
import type { SecretFilter } from '../observability/secret-filter.ts'
import { ReloadRefused } from './file-reloads.ts'
import { identify, type Identify } from '../http/identity.ts'
import { createLimiters, type Limiters } from '../http/rate-limit.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Who is calling (API key, JWT, or nobody we know); never rejects. */
    identify: Identify
    /** The caller's rate limit and refresh budget. */
    limiters: Limiters
    /** Whether bearer tokens (JWTs) are accepted: JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE are all set. */
    bearer: boolean
    /**
     * Calls `listener` after each reload of CONSUMERS_FILE has been applied (so that what was admitted under
     * the old list — open streams — is checked again under the new one), for the app's life.
     */
    onConsumersReload: (listener: () => void) => void
  }
}

export interface CallersPluginOptions {
  config: Config
  /** The log's secret filter, told the keys of reloaded consumers. */
  secrets: Pick<SecretFilter, 'addKeyDigests'>
}

/** Names added, removed and changed between two consumer lists (for the reload's log line). */
function changes (before: readonly Consumer[], after: readonly Consumer[]): { added: string[], removed: string[], changed: string[] } {
  const was = new Map(before.map((c) => [c.name, JSON.stringify(c)]))
  const now = new Map(after.map((c) => [c.name, JSON.stringify(c)]))
  return {
    added: [...now.keys()].filter((name) => !was.has(name)),
    removed: [...was.keys()].filter((name) => !now.has(name)),
    changed: [...now.keys()].filter((name) => was.has(name) && was.get(name) !== now.get(name))
  }
}

/**
 * The API's callers: consumers by API key (reloaded from CONSUMERS_FILE without a restart), frontend users by
 * JWT (jose, loaded only when configured), and their budgets.
 */
async function callers (app: FastifyInstance, { config, secrets }: CallersPluginOptions): Promise<void> {
  const { JWT_JWKS_URL: jwksUrl, JWT_ISSUER: issuer, JWT_AUDIENCE: audience } = config
  const jwt = jwksUrl === undefined || issuer === undefined || audience === undefined
    ? undefined
    : new (await import('../http/jwt.ts')).JwtVerifier({
      jwksUrl,
      issuer,
      audience,
      algorithms: config.jwtAlgorithms,
      clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE_SECONDS,
      cooldownMs: secondsToMs(config.JWT_JWKS_COOLDOWN_SECONDS)
    })
  const consumers = new ConsumerRegistry(config.consumers)
  const reloadListeners = new Set<() => void>()
  if (config.consumersFile !== undefined) {
    const log = app.log.child({ component: 'reload' })
    app.fileReloads.watch('consumers', [config.consumersFile], ([source]) => {
      const problems: string[] = []
      const next = parseConsumerList(source as string, 'CONSUMERS_FILE', problems)
      if (problems.length === 0 && next.length === 0) problems.push('CONSUMERS_FILE: no consumer configured')
      if (problems.length > 0) throw new ReloadRefused(problems.join('; '))
      const change = changes(consumers.consumers, next)
      // A new list is swapped in whole; keys of revoked consumers are refused from the next request.
      consumers.replace(next)
      secrets.addKeyDigests(next.map((consumer) => consumer.key_sha256))
      log.info({ consumers: next.length, ...change }, 'consumers reloaded')
      for (const listener of reloadListeners) listener()
    })
  }
  app.decorate('bearer', jwt !== undefined)
  app.decorate('onConsumersReload', (listener: () => void) => { reloadListeners.add(listener) })
  app.decorate('identify', identify({
    consumers,
    jwt,
    defaultLimit: config.RATE_LIMIT_PER_MINUTE,
    anonymousLimit: config.ANONYMOUS_RATE_LIMIT_PER_MINUTE
  }))
  app.decorate('limiters', createLimiters({
    refreshPerMinute: config.REFRESH_PER_MINUTE,
    metrics: app.metrics,
    ...(app.fleet === null ? {} : { store: app.fleet.rateLimitStore })
  }))
}

export default fp(callers, { name: 'callers', fastify: '5.x', dependencies: ['metrics', 'fleet', 'file-reloads'] })
