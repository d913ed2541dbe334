import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Log as Logger } from '../observability/log.ts'
import type { Fetched, LoadRequest, Loaded, Via } from '../cache/freshness-cache.ts'
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { activeSpan, ATTR, formatSpanContext, linkActiveSpan, parseSpanContext } from '../observability/tracing.ts'
import { asUpstreamError, SHORT_CIRCUITS, UPSTREAM_ERROR_CODES, UpstreamError } from '../vobiz/errors.ts'
import type { RedisLink } from './link.ts'

export interface SharedCacheOptions<T> {
  link: RedisLink
  /** Prefix of the keys (REDIS_KEY_PREFIX). */
  prefix: string
  /** This replica's own fetch from Vobiz (retries, the fleet's breaker and cool-down); it rejects with an UpstreamError. */
  fetch: (signal: AbortSignal, requestId: string | undefined) => Promise<T>
  /** Accepts a value read back from Redis (written by any replica, perhaps another version). */
  isValue: (value: unknown) => value is T
  /** How long the shared entry lives: the longest window any class may serve it in. */
  entryTtlMs: number
  /** The upstream deadline: how long a lock holder may take, and so how long the lock lives (plus grace). */
  upstreamTimeoutMs: number
  logger: Logger
  /**
   * Called once per load with where its value came from (`cache`: the shared entry; `fleet`: another
   * replica's fetch, or its failure; `upstream`: this replica held the lock and fetched), or `local` when
   * Redis was unusable and the replica did without it.
   */
  observe: (via: Via | 'local') => void
  now: () => number
}

/** A failed fetch as the lock holder records it for the replicas waiting on it; checked on the way back in (another version may have written it). */
const Failure = Type.Object({
  token: Type.String(),
  code: Type.Enum(UPSTREAM_ERROR_CODES),
  message: Type.String(),
  retryAfterSeconds: Type.Optional(Type.Number()),
  shortCircuit: Type.Optional(Type.Enum(SHORT_CIRCUITS))
})
type Failure = Static<typeof Failure>

/** How often a waiting replica looks for the lock holder's result. */
const POLL_MS = 20
/** A lock outlives the holder's deadline by this much before another replica may take over. */
const LOCK_GRACE_MS = 1000
/** How long a failure stays readable for the replicas that waited on it. */
const FAILURE_TTL_MS = 10_000

/** Reads everything a load decides on in one round trip. */
const READ = `
return { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]) }`

/** Takes the lock unless someone holds it; returns the holder's token. */
const ACQUIRE = `
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`

/** Stores the entry unless a newer one is there, and releases the lock if still ours. */
const PUBLISH = `
local stored = redis.call('GET', KEYS[1])
if not stored or cjson.decode(stored).fetchedAt <= tonumber(ARGV[3]) then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1`

/** Records a failed fetch for the waiting replicas, and releases the lock if still ours. */
const FAIL = `
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`

/** A Redis command failed: the load continues without Redis. */
class RedisUnusable extends Error {}

interface Keys {
  entry: string
  lock: string
  failure: string
}

interface SharedState<T> {
  entry: Fetched<T> | undefined
  holder: string | null
  failure: Failure | undefined
}

/**
 * The shared (L2) cache and fleet-wide single-flight in front of one replica's upstream fetch.
 *
 * A load reads the shared entry; when it is too old, the replica takes a short Redis lock (a random token,
 * released only by its holder, expiring after the upstream deadline) and fetches, then publishes the entry
 * (or the failure); replicas that find the lock held poll for the holder's result, and take the lock over
 * when it expires without one (the holder died). The breaker and cool-down are the fetch's business (their
 * state is the fleet's too: SharedHoldOffStore). Whenever Redis is unusable, a load does without it: this
 * replica's own copy when recent enough, else its own fetch.
 *
 * Traced, the steps are events on the load's span (lock taken, waiting on another replica, Redis unusable),
 * ioredis's own spans show each command, and the lock token carries the holder's span context: a replica
 * that waits on another one's fetch links to that fetch's span, as a request waiting on a fetch in its own
 * replica does.
 */
export class SharedCache<T> {
  readonly #options: SharedCacheOptions<T>
  readonly #keys: Keys
  readonly #now: () => number
  readonly #lockTtlMs: number

  constructor (options: SharedCacheOptions<T>) {
    this.#options = options
    this.#now = options.now
    this.#lockTtlMs = options.upstreamTimeoutMs + LOCK_GRACE_MS
    const p = `${options.prefix}profile:`
    this.#keys = { entry: `${p}entry`, lock: `${p}lock`, failure: `${p}failure` }
  }

  /**
   * A value fetched at or after `notBefore` (the Source contract, in the upstream's terms); `current` is this
   * replica's own copy, used while Redis is unusable.
   */
  async load (signal: AbortSignal, { notBefore, requestId, current }: Omit<LoadRequest<T>, 'current'> & { current: Fetched<T> | undefined }): Promise<Loaded<T>> {
    if (this.#options.link.usable) {
      try {
        return await this.#coordinated(signal, notBefore, requestId)
      } catch (err) {
        if (!(err instanceof RedisUnusable)) throw err
      }
    }
    activeSpan()?.addEvent('fleet: redis unusable, loading locally')
    this.#options.observe('local')
    if (current !== undefined && current.fetchedAt >= notBefore) return { ...current, via: 'cache' }
    const fetchedAt = this.#now()
    return { value: await this.#options.fetch(signal, requestId), fetchedAt, via: 'upstream' }
  }

  async #coordinated (signal: AbortSignal, notBefore: number, requestId: string | undefined): Promise<Loaded<T>> {
    // `<uuid>` or `<uuid>/<trace id>-<span id>-<flags>`: only ever compared whole, and parsed for a link.
    const spanContext = formatSpanContext(activeSpan()?.spanContext())
    const token = spanContext === undefined ? randomUUID() : `${randomUUID()}/${spanContext}`
    const waitUntil = Date.now() + this.#lockTtlMs + this.#options.upstreamTimeoutMs
    let awaited: string | undefined
    for (;;) {
      const state = await this.#read()
      if (state.entry !== undefined && state.entry.fetchedAt >= notBefore) {
        this.#options.observe(awaited === undefined ? 'cache' : 'fleet')
        return { ...state.entry, via: awaited === undefined ? 'cache' : 'fleet' }
      }
      if (awaited !== undefined && state.holder !== awaited && state.failure?.token === awaited) {
        // The fetch this replica waited on failed: the same failure, without asking Vobiz again.
        this.#options.observe('fleet')
        throw toUpstreamError(state.failure)
      }
      const previous = awaited
      if (state.holder === null) {
        const holder = await this.#command(async (redis) => await redis.eval(ACQUIRE, 1, this.#keys.lock, token, this.#lockTtlMs) as string)
        if (holder === token) {
          activeSpan()?.addEvent('fleet: lock taken, fetching for the fleet')
          return await this.#fetchAndPublish(signal, token, requestId)
        }
        awaited = holder
      } else {
        awaited = state.holder
      }
      if (awaited !== previous) {
        activeSpan()?.addEvent('fleet: waiting on another replica\'s fetch')
        // A holder that is not traced wrote no span context: nothing to link to.
        linkActiveSpan(parseSpanContext(awaited.slice(awaited.indexOf('/') + 1)), { [ATTR.linkReason]: 'waited-on-replica' })
      }
      if (Date.now() > waitUntil) throw new UpstreamError('upstream_timeout', 'no replica finished the Vobiz fetch in time')
      await sleep(POLL_MS, undefined, { signal })
    }
  }

  async #fetchAndPublish (signal: AbortSignal, token: string, requestId: string | undefined): Promise<Loaded<T>> {
    const { fetch, entryTtlMs } = this.#options
    const fetchedAt = this.#now()
    let value: T
    try {
      value = await fetch(signal, requestId)
    } catch (err) {
      const error = asUpstreamError(err)
      const failure: Failure = { token, code: error.code, message: error.message, retryAfterSeconds: error.retryAfterSeconds, shortCircuit: error.shortCircuit }
      const k = this.#keys
      await this.#command(async (redis) => await redis.eval(FAIL, 2, k.lock, k.failure, token, JSON.stringify(failure), FAILURE_TTL_MS)).catch(() => {})
      throw err
    }
    this.#options.observe('upstream')
    const k = this.#keys
    // The data is this replica's either way; if Redis fails now, the others fetch once the lock expires.
    await this.#command(async (redis) => await redis.eval(PUBLISH, 2, k.entry, k.lock,
      token, JSON.stringify({ fetchedAt, value }), fetchedAt, entryTtlMs)).catch(() => {})
    return { value, fetchedAt, via: 'upstream' }
  }

  async #read (): Promise<SharedState<T>> {
    const k = this.#keys
    const [entry, holder, failure] = await this.#command(async (redis) =>
      await redis.eval(READ, 3, k.entry, k.lock, k.failure) as [string | null, string | null, string | null])
    return { entry: this.#parseEntry(entry), holder, failure: parseFailure(failure) }
  }

  /** The stored entry, if it is one this version understands (replicas of another version may share the key). */
  #parseEntry (raw: string | null): Fetched<T> | undefined {
    if (raw === null) return undefined
    const parsed = parseJson(raw) as { fetchedAt?: unknown, value?: unknown } | undefined
    if (typeof parsed?.fetchedAt === 'number' && this.#options.isValue(parsed.value)) return { fetchedAt: parsed.fetchedAt, value: parsed.value }
    this.#options.logger.warn('the shared cache entry is not in this version\'s format; fetching a new one')
    return undefined
  }

  async #command<R> (run: (redis: RedisLink['client']) => Promise<R>): Promise<R> {
    const { link } = this.#options
    try {
      return await link.bounded(run(link.client))
    } catch (err) {
      link.failed(err)
      throw new RedisUnusable()
    }
  }
}

function parseJson (raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return undefined
  }
}

/** Failures are only acted on when their token is one this replica waited on, so written by a replica. */
export function parseFailure (raw: string | null): Failure | undefined {
  const parsed = raw === null ? undefined : parseJson(raw)
  return Value.Check(Failure, parsed) ? parsed : undefined
}

function toUpstreamError (failure: Failure): UpstreamError {
  return new UpstreamError(failure.code, `${failure.message} (fetched by another replica)`, failure)
}
