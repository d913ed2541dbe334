import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { secondsToMs } from '../clock.ts'
import type { Config } from '../config.ts'
import { ConsumerRegistry } from '../consumers.ts'
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
  }
}

/** The API's callers: consumers by API key, frontend users by JWT (jose, loaded only when configured), and their budgets. */
async function callers (app: FastifyInstance, { config }: { config: Config }): Promise<void> {
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
  app.decorate('bearer', jwt !== undefined)
  app.decorate('identify', identify({
    consumers: new ConsumerRegistry(config.consumers),
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

export default fp(callers, { name: 'callers', fastify: '5.x', dependencies: ['metrics', 'fleet'] })
