import type { FastifyRequest } from 'fastify'
import { hasAnyScope, type Consumer, type ConsumerRegistry, type Scope } from '../consumers.ts'
import type { JwtVerifier } from './jwt.ts'
import { clientAddress, clientNetwork } from './client-address.ts'
import { problem, type ProblemError } from './problems.ts'
import { messageOf } from '../caught.ts'

/** The rate-limit window, in seconds (one minute). */
export const WINDOW_SECONDS = 60

/** What every identity carries for the rate limiter. */
interface Budget {
  /** Requests per window. */
  limit: number
  /** The counter's key: per consumer, per JWT `sub`, or per client network (IPv4 address, IPv6 /64). */
  rateKey: string
  /** The RateLimit-Policy name, quoted: `"default"` or `"anonymous"`. */
  policy: string
  /** The RateLimit-Policy header value, e.g. `"default";q=600;w=60`. */
  policyHeader: string
}

/** Who is calling: an API-key consumer, a frontend user with a JWT, or nobody we know. */
export type Identity =
  | ({ kind: 'api-key', name: string, scopes: readonly Scope[] } & Budget)
  /** `expiresAt`: when the token stops being accepted (ms since epoch, its `exp` plus the clock tolerance). */
  | ({ kind: 'jwt', name: string, scopes: readonly Scope[], expiresAt: number } & Budget)
  | ({ kind: 'anonymous', failure: ProblemError } & Budget)

/** A caller the service knows: what an API route's handler has, past authorisation. */
export type Caller = Exclude<Identity, { kind: 'anonymous' }>

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the route guard on API routes, before rate limiting and authorisation. */
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

/** Works out the caller: synchronously for an API key or no credentials, asynchronously for a JWT. */
export type Identify = (request: FastifyRequest) => Identity | Promise<Identity>

const API_KEY_CHALLENGE = 'ApiKey header="X-API-Key"'

function budget (policy: 'default' | 'anonymous', limit: number, rateKey: string): Budget {
  return { limit, rateKey, policy: `"${policy}"`, policyHeader: `"${policy}";q=${limit};w=${WINDOW_SECONDS}` }
}

/**
 * The caller's identity from X-API-Key or `Authorization: Bearer`, never rejecting, so that the rate limiter
 * (which runs next) counts unauthenticated attempts per IP and authenticated ones per consumer; `authorize`
 * then turns a missing identity or scope into 401 / 403. A consumer's identity is built once and reused.
 */
export function identify (options: IdentifyOptions): Identify {
  const { consumers, jwt, defaultLimit, anonymousLimit } = options
  const challenge = jwt === undefined ? API_KEY_CHALLENGE : `${API_KEY_CHALLENGE}, Bearer`
  const invalidKey = problem('invalid_api_key', 'The X-API-Key sent is not a valid key.', { 'www-authenticate': challenge })
  const how = jwt === undefined ? 'the X-API-Key header' : 'the X-API-Key header or an Authorization: Bearer token'
  const missing = problem('missing_api_key', `Send your API key in ${how}.`, { 'www-authenticate': challenge })
  const anonymous = (request: FastifyRequest, failure: ProblemError): Identity =>
    ({ kind: 'anonymous', failure, ...budget('anonymous', anonymousLimit, `ip:${clientNetwork(clientAddress(request))}`) })
  // Per consumer object: a reload makes new ones, and the identities of removed consumers go with them.
  const identities = new WeakMap<Consumer, Identity>()
  const ofConsumer = (consumer: Consumer): Identity => {
    let identity = identities.get(consumer)
    if (identity === undefined) {
      identity = { kind: 'api-key', name: consumer.name, scopes: consumer.scopes, ...budget('default', consumer.rate_limit_per_minute ?? defaultLimit, `consumer:${consumer.name}`) }
      identities.set(consumer, identity)
    }
    return identity
  }

  // Every JWT user has the same budget: its policy strings are made once, not per request. Each identity lives
  // as long as its request (an event stream's, for hours): written out, it is one object of fixed shape.
  const { limit, policy, policyHeader } = budget('default', defaultLimit, '')
  async function bearer (request: FastifyRequest, verifier: JwtVerifier, token: string): Promise<Identity> {
    try {
      const { sub, scopes, expiresAt } = await verifier.verify(token)
      return { kind: 'jwt', name: sub, scopes, expiresAt, limit, rateKey: `jwt:${sub}`, policy, policyHeader }
    } catch (err) {
      return anonymous(request, invalidToken(messageOf(err)))
    }
  }

  return function identifyRequest (request: FastifyRequest): Identity | Promise<Identity> {
    const key = request.headers['x-api-key']
    if (typeof key === 'string' && key !== '') {
      const consumer = consumers.authenticate(key)
      return consumer === undefined ? anonymous(request, invalidKey) : ofConsumer(consumer)
    }
    const authorization = request.headers.authorization
    if (jwt !== undefined && typeof authorization === 'string' && /^bearer /i.test(authorization)) {
      return bearer(request, jwt, authorization.slice(7).trim())
    }
    return anonymous(request, missing)
  }
}

/** The problem for a bearer token that is refused, and why (`reason`: a TokenError's message). */
export function invalidToken (reason: string): ProblemError {
  return problem('invalid_token', `The bearer token was refused: ${reason}.`, { 'www-authenticate': 'Bearer error="invalid_token"' })
}

/** The problem refusing `identity` a route that needs one of `anyOf` (401 without credentials, 403 without the scope), or undefined. */
export function authorize (anyOf: readonly Scope[]): (identity: Identity) => ProblemError | undefined {
  const needed = anyOf.join(' or ')
  return function authorizeIdentity (identity) {
    if (identity.kind === 'anonymous') return identity.failure
    if (hasAnyScope(identity, anyOf)) return undefined
    return problem('insufficient_scope', `This route needs the ${needed} scope; ${identity.kind === 'jwt' ? 'the token does' : 'the key\'s consumer does'} not grant it.`)
  }
}
