import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { RedisLink } from './link.ts'

/** Takes the lease if nobody holds it, renews it if we do; 1 when it is ours. */
const LEAD = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

/** Lets go of the lease if it is still ours. */
const RESIGN = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** Who holds a lease: this replica's host and process, readable by an operator (`GET <prefix>…:lease`). */
export const holderToken = (): string => `${hostname()}:${process.pid}:${randomUUID()}`

/**
 * One replica at a time does a job (polling Vobiz while anyone listens, delivering to a webhook endpoint):
 * whoever holds the key. The holder renews it each time it works, well within `ttlMs`; a holder that dies
 * stops renewing, and another replica takes over once the key expires. With Redis unusable nobody holds it
 * (`lead` is false) unless `withoutRedis` says to carry on alone.
 */
export class Lease {
  readonly #link: RedisLink
  readonly #key: string
  readonly #ttlMs: number
  readonly #token: string
  readonly #withoutRedis: boolean

  constructor ({ link, key, ttlMs, token, withoutRedis }: { link: RedisLink, key: string, ttlMs: number, token: string, withoutRedis: boolean }) {
    this.#link = link
    this.#key = key
    this.#ttlMs = ttlMs
    this.#token = token
    this.#withoutRedis = withoutRedis
  }

  /** Whether this replica holds the lease now (taking or renewing it). */
  async lead (): Promise<boolean> {
    if (!this.#link.usable) return this.#withoutRedis
    try {
      return await this.#link.command(async (redis) => await redis.eval(LEAD, 1, this.#key, this.#token, this.#ttlMs)) === 1
    } catch {
      return this.#withoutRedis
    }
  }

  /** Lets the lease go (never rejects: if Redis is unusable, the lease simply expires). */
  async resign (): Promise<void> {
    if (!this.#link.usable) return
    try {
      await this.#link.command(async (redis) => await redis.eval(RESIGN, 1, this.#key, this.#token))
    /* c8 ignore next 2: Redis failing between the check above and this command's reply */
    } catch {}
  }
}
