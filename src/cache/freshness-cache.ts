import { LRUCache } from 'lru-cache'
import type { SpanContext } from '@opentelemetry/api'
import { ATTR, inSpan, linkActiveSpan } from '../observability/tracing.ts'
import { HIT, type Forward, type Outcome, type StaleReason } from '../outcome.ts'

/**
 * Where a loaded value came from: this replica's own Vobiz fetch (`upstream`), another replica's fetch this
 * one waited for (`fleet`), or a copy that was already stored and is recent enough (`cache`: the shared
 * cache, or this replica's own copy re-confirmed).
 */
export type Via = 'upstream' | 'fleet' | 'cache'

/** A value and when the upstream fetch that produced it started (ms since epoch). */
export interface Fetched<T> {
  value: T
  fetchedAt: number
}

/** What a load yields: a fetched value and where it came from. */
export interface Loaded<T> extends Fetched<T> {
  via: Via
}

/** A cached value; `checkedAt` is when this replica last loaded or re-confirmed it. */
export interface CacheEntry<T> extends Loaded<T> {
  checkedAt: number
}

/** What a load must produce. */
export interface LoadRequest<T> {
  /** The value must come from a fetch started at or after this time (ms since epoch). */
  notBefore: number
  /** The id of the request that started the load. */
  requestId: string | undefined
  /** The entry cached now, if any: a load may re-confirm it when it is recent enough. */
  current: CacheEntry<T> | undefined
}

export interface CacheResult<T> {
  entry: CacheEntry<T>
  outcome: Outcome
}

/** How long an entry is usable for one class of requests, in ms past the fetch. */
export interface Freshness {
  /** Fresh: served as is. */
  ttlMs: number
  /** Past ttl, for this long: served at once while one background fetch refreshes it. 0 for none. */
  staleWhileRevalidateMs: number
  /** Past ttl, for this long: served when a fetch fails. */
  staleIfErrorMs: number
}

/**
 * Where the cache's value comes from (the seam between the cache and what is behind it, like undici's
 * CacheStore): this replica's own upstream fetch, or the fleet's shared copy. The contract, which every source
 * passes (test/cache/source-contract.ts):
 * - `load` resolves with a value fetched at or after `request.notBefore`, and says where it came from (`via`);
 * - it may answer `request.current` itself (`via: 'cache'`) when that is recent enough, and never anything older;
 * - it rejects with an UpstreamError, and with the same error the upstream gave;
 * - an aborted `signal` ends it with a rejection.
 */
export interface Source<T> {
  load: (signal: AbortSignal, request: LoadRequest<T>) => Promise<Loaded<T>>
}

export interface FreshnessCacheOptions<T, C extends string> {
  source: Source<T>
  freshness: Record<C, Freshness>
  /**
   * How long a fresh entry is served without asking `load` again (default: for as long as it is fresh).
   * In front of a shared cache this is the L1 lifetime: a newer copy stored by another replica is seen
   * within it.
   */
  confirmForMs?: number
  /** Why a stale copy is served after this failure: `stale-if-error`, or the short circuit that sent no request. */
  staleDetail: (error: unknown) => StaleReason
  /** Called when a background (stale-while-revalidate) refresh fails; the stale entry stays. */
  onBackgroundError: (error: unknown) => void
  now: () => number
}

export interface GetOptions {
  /** Data fetched after this call started (Cache-Control: no-cache). */
  refresh?: boolean
  /** Never go upstream (Cache-Control: only-if-cached): the usable cached entry, or NotCachedError. */
  onlyIfCached?: boolean
  /** The id of the request asking, passed to `load` when it starts the fetch. */
  requestId?: string
}

/** Thrown for only-if-cached when nothing usable is cached. */
export class NotCachedError extends Error {
  override readonly name = 'NotCachedError'
}

interface FetchContext {
  /** Set by the fetch method when this caller's fetch() call started the load. */
  initiated: boolean
  notBefore: number
  requestId: string | undefined
}

const KEY = 'partner'

/**
 * One upstream entry served to several freshness classes. Knows neither HTTP nor Vobiz.
 *
 * lru-cache's fetch() does the single-flight: while a fetch is in flight, every other fetch() for the key
 * joins it, so any number of concurrent requests on a cold or too-old entry cause one load. Each class judges
 * the entry by its own windows: fresh, then stale-while-revalidate, then stale-if-error. A failed load never
 * removes the entry.
 *
 * Traced, each load is a `profile load` span (a child of the request that started it), and every request that
 * joins a load in flight links to that span: the trace shows where a collapsed request's time went.
 */
export class FreshnessCache<T, C extends string> {
  readonly #lru: LRUCache<string, CacheEntry<T>, FetchContext>
  readonly #freshness: Record<C, Freshness>
  readonly #now: () => number
  readonly #staleDetail: (error: unknown) => StaleReason
  readonly #onBackgroundError: (error: unknown) => void
  readonly #confirmForMs: number
  /** Loads started so far, and the span of the latest: a fetch() that starts none has joined that one. */
  #loads = 0
  #loadSpan: SpanContext | undefined

  constructor (options: FreshnessCacheOptions<T, C>) {
    this.#freshness = options.freshness
    this.#now = options.now
    this.#staleDetail = options.staleDetail
    this.#onBackgroundError = options.onBackgroundError
    this.#confirmForMs = options.confirmForMs ?? Number.POSITIVE_INFINITY
    const { source } = options
    this.#lru = new LRUCache<string, CacheEntry<T>, FetchContext>({
      max: 1,
      // Windows are judged per class in get(); the entry itself never expires, so a failed refresh
      // cannot lose it.
      noDeleteOnFetchRejection: true,
      fetchMethod: async (_key, current, { signal, context }) => {
        context.initiated = true
        this.#loads++
        return await inSpan('profile load', {}, async (span) => {
          this.#loadSpan = span.spanContext()
          const loaded = await source.load(signal, { notBefore: context.notBefore, requestId: context.requestId, current })
          span.setAttribute(ATTR.loadVia, loaded.via)
          return { ...loaded, checkedAt: this.#now() }
        })
      }
    })
  }

  freshness (cls: C): Freshness {
    return this.#freshness[cls]
  }

  /** The cached entry, whatever its age (for metrics); never goes upstream. */
  peek (): CacheEntry<T> | undefined {
    return this.#lru.peek(KEY)
  }

  /** The cached entry when it is fresh for `cls`; never goes upstream. The synchronous hit path. */
  fresh (cls: C): CacheEntry<T> | undefined {
    const cached = this.#lru.get(KEY)
    return cached !== undefined && this.#servable(cached, this.#now(), this.#freshness[cls].ttlMs) ? cached : undefined
  }

  /** Fresh for the class, and confirmed recently enough. */
  #servable (entry: CacheEntry<T>, now: number, ttlMs: number): boolean {
    return now - entry.fetchedAt < ttlMs && now - entry.checkedAt < this.#confirmForMs
  }

  /**
   * The entry for `cls`: fresh from cache; stale at once while a background fetch refreshes it; or from a
   * (shared) fetch — and when that fails, stale within the stale-if-error window, else the fetch's error.
   */
  async get (cls: C, options: GetOptions = {}): Promise<CacheResult<T>> {
    const { ttlMs, staleWhileRevalidateMs, staleIfErrorMs } = this.#freshness[cls]
    const arrivedAt = this.#now()
    const cached = this.#lru.get(KEY)
    const age = cached === undefined ? Number.POSITIVE_INFINITY : arrivedAt - cached.fetchedAt

    if (options.onlyIfCached === true) {
      if (cached === undefined || age >= ttlMs + staleIfErrorMs) throw new NotCachedError('nothing usable is cached')
      return { entry: cached, outcome: age < ttlMs ? HIT : { kind: 'stale', detail: 'only-if-cached' } }
    }
    // A refresh wants data fetched after it arrived; anything else, data still fresh for its class.
    const notBefore = options.refresh === true ? arrivedAt : arrivedAt - ttlMs
    if (options.refresh !== true && cached !== undefined) {
      if (this.#servable(cached, arrivedAt, ttlMs)) return { entry: cached, outcome: HIT }
      if (age >= ttlMs && age < ttlMs + staleWhileRevalidateMs) {
        this.#fetch({ initiated: false, notBefore, requestId: options.requestId }).catch(this.#onBackgroundError)
        return { entry: cached, outcome: { kind: 'stale', detail: 'stale-while-revalidate' } }
      }
    }

    const fwd: Forward = options.refresh === true ? 'request' : cached === undefined ? 'miss' : 'stale'
    const context: FetchContext = { initiated: false, notBefore, requestId: options.requestId }
    try {
      let entry = await this.#fetch(context)
      if (entry.fetchedAt < notBefore) {
        // We joined a load started for an older need (a refresh that began before this one arrived, or a
        // class that accepts older data): take part in the next one.
        entry = await this.#fetch(context)
      }
      const outcome: Outcome = entry.via === 'cache' ? HIT : { kind: 'fetched', fwd, collapsed: !context.initiated || entry.via === 'fleet' }
      return { entry, outcome }
    } catch (error) {
      const fallback = this.#lru.get(KEY) ?? cached
      const fallbackAge = fallback === undefined ? Number.POSITIVE_INFINITY : this.#now() - fallback.fetchedAt
      if (fallback === undefined || fallbackAge >= ttlMs + staleIfErrorMs) throw error
      const outcome: Outcome = fallbackAge < ttlMs ? { kind: 'hit', detail: 'refresh-failed' } : { kind: 'stale', detail: this.#staleDetail(error) }
      return { entry: fallback, outcome }
    }
  }

  async #fetch (context: FetchContext): Promise<CacheEntry<T>> {
    const loads = this.#loads
    // lru-cache calls the fetch method synchronously when it starts a load; otherwise this joins the one in flight.
    const pending = this.#lru.fetch(KEY, { forceRefresh: true, context })
    if (this.#loads === loads) linkActiveSpan(this.#loadSpan, { [ATTR.linkReason]: 'waited-on-load' })
    const entry = await pending
    // lru-cache resolves undefined only when clear() aborted the fetch (shutdown).
    /* c8 ignore next */
    if (entry === undefined) throw new Error('the cache was cleared during the fetch')
    return entry
  }

  /** Drops the entry and aborts any fetch in flight (used at shutdown and in tests). */
  clear (): void {
    this.#lru.clear()
  }
}
