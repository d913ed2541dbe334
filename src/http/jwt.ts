import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose'
import { SCOPES, type Scope } from '../consumers.ts'

export interface JwtOptions {
  jwksUrl: string
  issuer: string
  audience: string
  /** Accepted JWS algorithms; asymmetric only (config enforces it), so `none` and HS* never verify. */
  algorithms: string[]
  clockToleranceSeconds: number
  /** Minimum time between JWKS refetches triggered by an unknown `kid`. */
  cooldownMs: number
}

export interface VerifiedToken {
  sub: string
  scopes: Scope[]
  /** When the token stops being accepted (ms since epoch): its `exp` plus the clock tolerance. */
  expiresAt: number
}

/** Why a bearer token was refused; says nothing about keys or the token itself. */
export class TokenError extends Error {
  override readonly name = 'TokenError'
}

function scopesOf (payload: Record<string, unknown>): Scope[] {
  const raw = payload.scope ?? payload.scp
  const list = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw : []
  return SCOPES.filter((scope) => list.includes(scope))
}

/**
 * Verifies frontend bearer tokens with jose: signature against the issuer's JWKS (cached; refetched on an
 * unknown `kid`, at most once per cooldown), pinned algorithms, `iss`, `aud`, `exp`/`nbf` with a small clock
 * tolerance, and a `sub`. Scopes come from `scope` (space-separated) or `scp` (list or string).
 */
export class JwtVerifier {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>
  readonly #options: JwtOptions

  constructor (options: JwtOptions) {
    this.#options = options
    this.#jwks = createRemoteJWKSet(new URL(options.jwksUrl), {
      cooldownDuration: options.cooldownMs,
      cacheMaxAge: 10 * 60_000,
      timeoutDuration: 5_000
    })
  }

  async verify (token: string): Promise<VerifiedToken> {
    try {
      const { payload } = await jwtVerify(token, this.#jwks, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: this.#options.algorithms,
        clockTolerance: this.#options.clockToleranceSeconds,
        requiredClaims: ['sub', 'exp']
      })
      if (typeof payload.sub !== 'string' || payload.sub === '' || payload.sub.length > 256) throw new TokenError('the token has no usable sub')
      // `exp` is required above, and jose has checked it is a number.
      const expiresAt = ((payload.exp as number) + this.#options.clockToleranceSeconds) * 1000
      return { sub: payload.sub, scopes: scopesOf(payload as Record<string, unknown>), expiresAt }
    } catch (err) {
      if (err instanceof TokenError) throw err
      if (err instanceof joseErrors.JWTExpired) throw new TokenError('the token has expired')
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw new TokenError(`the token's ${err.claim} claim is not accepted`)
      if (err instanceof joseErrors.JWKSNoMatchingKey) throw new TokenError('the token is signed with a key the issuer does not publish')
      throw new TokenError('the token is malformed, unsigned, or its signature does not verify')
    }
  }
}
