import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify'
import { hasAnyScope, type ConsumerRegistry, type Scope } from '../consumers.ts'
import type { JwtVerifier, TokenError } from './jwt.ts'
import { problem, type ProblemError } from './problems.ts'

/** Who is calling: an API-key consumer, a frontend user with a JWT, or nobody we know. */
export type Identity =
  | { kind: 'api-key' | 'jwt', name: string, scopes: readonly Scope[], limit: number, rateKey: string }
  | { kind: 'anonymous', failure: ProblemError, limit: number, rateKey: string }

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the identify hook on API routes, before rate limiting and authorisation. */
    identity: Identity
  }
}

export interface IdentifyOptions {
  consumers: ConsumerRegistry
  jwt: JwtVerifier | undefined
  /** Requests per minute for a consumer without its own rate_limit_per_minute, and for JWT users. */
  defaultLimit: number
  /** Requests per minute per client IP without valid credentials. */
  anonymousLimit: number
}

const API_KEY_CHALLENGE = 'ApiKey header="X-API-Key"'

/**
 * onRequest: works out the caller's identity from X-API-Key or `Authorization: Bearer`, never rejecting, so
 * that the rate limiter (which runs next) counts unauthenticated attempts per IP and authenticated ones per
 * consumer. The `authorize` preHandler then turns a missing identity or scope into 401 / 403.
 */
export function identify (options: IdentifyOptions) {
  const { consumers, jwt, defaultLimit, anonymousLimit } = options
  const challenge = jwt === undefined ? API_KEY_CHALLENGE : `${API_KEY_CHALLENGE}, Bearer`
  const anonymous = (request: FastifyRequest, failure: ProblemError): Identity =>
    ({ kind: 'anonymous', failure, limit: anonymousLimit, rateKey: `ip:${request.ip}` })

  return async function identifyRequest (request: FastifyRequest): Promise<void> {
    const key = request.headers['x-api-key']
    if (typeof key === 'string' && key !== '') {
      const consumer = consumers.authenticate(key)
      request.identity = consumer === undefined
        ? anonymous(request, problem('invalid_api_key', 'The X-API-Key sent is not a valid key.', { 'www-authenticate': challenge }))
        : { kind: 'api-key', name: consumer.name, scopes: consumer.scopes, limit: consumer.rate_limit_per_minute ?? defaultLimit, rateKey: `consumer:${consumer.name}` }
      return
    }
    const authorization = request.headers.authorization
    if (jwt !== undefined && typeof authorization === 'string' && /^bearer /i.test(authorization)) {
      try {
        const { sub, scopes } = await jwt.verify(authorization.slice(7).trim())
        request.identity = { kind: 'jwt', name: sub, scopes, limit: defaultLimit, rateKey: `jwt:${sub}` }
      } catch (err) {
        const reason = (err as TokenError).message
        request.identity = anonymous(request, problem('invalid_token', `The bearer token was refused: ${reason}.`, { 'www-authenticate': 'Bearer error="invalid_token"' }))
      }
      return
    }
    const how = jwt === undefined ? 'the X-API-Key header' : 'the X-API-Key header or an Authorization: Bearer token'
    request.identity = anonymous(request, problem('missing_api_key', `Send your API key in ${how}.`, { 'www-authenticate': challenge }))
  }
}

/** preHandler: admits the request only for an identity holding one of `anyOf` (401 without one, 403 without the scope). */
export function authorize (anyOf: readonly Scope[]): preHandlerHookHandler {
  const needed = anyOf.join(' or ')
  return function authorizeRequest (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
    const { identity } = request
    if (identity.kind === 'anonymous') {
      done(identity.failure)
    } else if (!hasAnyScope(identity, anyOf)) {
      done(problem('insufficient_scope', `This route needs the ${needed} scope; ${identity.kind === 'jwt' ? 'the token does' : 'the key\'s consumer does'} not grant it.`))
    } else {
      done()
    }
  }
}
