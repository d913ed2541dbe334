import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import Type, { type Static } from 'typebox'

export const SCOPES = ['profile:read', 'balance:read'] as const
export const Scope = Type.Enum(SCOPES, {
  description: 'profile:read reads both routes; balance:read reads /profile/balance only'
})
export type Scope = typeof SCOPES[number]

/** A consumer's name: shown in logs and metric labels. */
export const CONSUMER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export const ConsumerSchema = Type.Object({
  name: Type.String({ pattern: CONSUMER_NAME.source, description: 'consumer name shown in logs' }),
  key_sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 of the API key, 64 hex characters' }),
  scopes: Type.Array(Scope, { minItems: 1, uniqueItems: true }),
  rate_limit_per_minute: Type.Optional(Type.Integer({ minimum: 1 }))
}, { additionalProperties: false })
export type Consumer = Static<typeof ConsumerSchema>

export const ConsumerListSchema = Type.Array(ConsumerSchema)

export function sha256Hex (value: string): string {
  return createHash('sha256').update(value).digest('hex')
}

/** A new API key: 32 random bytes, base64url (43 characters). */
export function generateApiKey (): string {
  return randomBytes(32).toString('base64url')
}

/** Longest key the service will hash; longer values are rejected without work. */
const MAX_KEY_LENGTH = 256

/**
 * Looks API keys up among the configured consumers. Keys are configured only as SHA-256 digests; a presented
 * key is hashed and compared with every digest in constant time, so the time taken does not depend on
 * which consumer (if any) matched. A key that matched is remembered (at most one entry per consumer), so a
 * known key is never hashed twice; unknown keys are never remembered, so guessing cannot grow the memo.
 */
export class ConsumerRegistry {
  #consumers: readonly Consumer[] = []
  #digests: Array<{ digest: Buffer, consumer: Consumer }> = []
  #known = new Map<string, Consumer>()

  constructor (consumers: readonly Consumer[]) {
    this.replace(consumers)
  }

  /** The consumers now (for a reload to compare with). */
  get consumers (): readonly Consumer[] {
    return this.#consumers
  }

  get size (): number {
    return this.#digests.length
  }

  /**
   * Swaps in a new (already validated) list at once. Remembered keys are forgotten, so a revoked key is
   * refused from the next request.
   */
  replace (consumers: readonly Consumer[]): void {
    this.#consumers = consumers
    this.#digests = consumers.map((consumer) => ({
      digest: Buffer.from(consumer.key_sha256.toLowerCase(), 'hex'),
      consumer
    }))
    this.#known = new Map()
  }

  authenticate (key: string): Consumer | undefined {
    const known = this.#known.get(key)
    if (known !== undefined) return known
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined
    const presented = createHash('sha256').update(key).digest()
    let found: Consumer | undefined
    for (const { digest, consumer } of this.#digests) {
      if (timingSafeEqual(presented, digest) && found === undefined) found = consumer
    }
    if (found !== undefined) this.#known.set(key, found)
    return found
  }
}

export function hasAnyScope (holder: { scopes: readonly Scope[] }, anyOf: readonly Scope[]): boolean {
  return anyOf.some((scope) => holder.scopes.includes(scope))
}
