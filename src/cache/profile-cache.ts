import { LRUCache } from 'lru-cache'

/** A cached value and when the upstream fetch that produced it started (ms since epoch). */
export interface CacheEntry<T> {
  value: T
  fetchedAt: number
}

/** Why a request went upstream: nothing cached, cached but too old for its class, or the client asked. */
export type Forward = 'miss' | 'stale' | 'request'

export type CacheOutcome =
  | { hit: true }
  | { hit: false, fwd: Forward, collapsed: boolean }

export interface CacheResult<T> {
  entry: CacheEntry<T>
  outcome: CacheOutcome
}

export interface ProfileCacheOptions<T, C extends string> {
  /** Fetches a new value. `fetchedAt` is the time the fetch started, for values that record their own age. */
  load: (signal: AbortSignal, fetchedAt: number) => Promise<T>
  /** How long an entry stays fresh for each freshness class, in ms. */
  freshness: Record<C, number>
  now?: () => number
}

interface FetchContext {
  /** Set by the fetch method when this caller's fetch() call started the upstream request. */
  initiated: boolean
}

export const HIT: CacheOutcome = Object.freeze({ hit: true })
const KEY = 'partner'

/**
 * One upstream entry served to several freshness classes. Knows neither HTTP nor Vobiz.
 *
 * lru-cache's fetch() does the single-flight: while a fetch is in flight, every other fetch() for the key
 * joins it, so any number of concurrent requests on a cold or too-old entry cause one load. A request in a
 * class whose freshness the entry still meets is a hit, even while another class refreshes it. A failed
 * load leaves the previous entry in place.
 */
export class ProfileCache<T, C extends string> {
  readonly #lru: LRUCache<string, CacheEntry<T>, FetchContext>
  readonly #freshness: Record<C, number>
  readonly #now: () => number

  constructor (options: ProfileCacheOptions<T, C>) {
    this.#freshness = options.freshness
    this.#now = options.now ?? Date.now
    const { load } = options
    this.#lru = new LRUCache<string, CacheEntry<T>, FetchContext>({
      max: 1,
      // Freshness is judged per class in get(); the entry itself never expires, so a failed refresh
      // cannot lose it.
      noDeleteOnFetchRejection: true,
      fetchMethod: async (_key, _stale, { signal, context }) => {
        context.initiated = true
        const fetchedAt = this.#now()
        return { value: await load(signal, fetchedAt), fetchedAt }
      }
    })
  }

  freshnessMs (cls: C): number {
    return this.#freshness[cls]
  }

  /** The cached entry when it is fresh for `cls`; never goes upstream. The synchronous hit path. */
  fresh (cls: C): CacheEntry<T> | undefined {
    const cached = this.#lru.get(KEY)
    return cached !== undefined && this.#now() - cached.fetchedAt < this.#freshness[cls] ? cached : undefined
  }

  /**
   * The entry for `cls`: from cache when fresh enough, otherwise from a (shared) fetch. With `refresh`, the
   * value comes from a fetch that started after this call, joined with other refreshes in flight.
   */
  async get (cls: C, refresh = false): Promise<CacheResult<T>> {
    const arrivedAt = this.#now()
    const fresh = refresh ? undefined : this.fresh(cls)
    if (fresh !== undefined) return { entry: fresh, outcome: HIT }
    const cached = this.#lru.get(KEY)
    const fwd: Forward = refresh ? 'request' : cached === undefined ? 'miss' : 'stale'
    const context: FetchContext = { initiated: false }
    let entry = await this.#fetch(context)
    if (refresh && entry.fetchedAt < arrivedAt) {
      // We joined a fetch that had started before this request arrived: its data may predate the
      // request, so take part in the next one.
      entry = await this.#fetch(context)
    }
    return { entry, outcome: { hit: false, fwd, collapsed: !context.initiated } }
  }

  async #fetch (context: FetchContext): Promise<CacheEntry<T>> {
    const entry = await this.#lru.fetch(KEY, { forceRefresh: true, context })
    /* c8 ignore next */
    if (entry === undefined) throw new Error('cache fetch was aborted')
    return entry
  }

  /** Drops the entry and aborts any fetch in flight (used at shutdown and in tests). */
  clear (): void {
    this.#lru.clear()
  }
}
