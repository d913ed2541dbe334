import type { ChangeClass } from './detector.ts'

/**
 * One published change: `id` orders it (`<ms of the fetch that saw it>-<n>`, the shape of a Redis stream
 * id, so that a fleet's feed can use the stream's own), `data` is what subscribers receive.
 */
export interface FeedEvent<T> {
  id: string
  class: ChangeClass
  data: T
  /** When the fetch that revealed it started (ms since epoch). */
  fetchedAt: number
}

type Id = readonly [number, number]

/** `<ms>-<n>` → [ms, n], or undefined for anything else (a Last-Event-ID is the client's text). */
export function parseId (id: string): Id | undefined {
  const match = /^(\d{1,15})-(\d{1,9})$/.exec(id)
  return match === null ? undefined : [Number(match[1]), Number(match[2])]
}

const format = (id: Id): string => `${id[0]}-${id[1]}`
const compare = (a: Id, b: Id): number => a[0] - b[0] || a[1] - b[1]

/** Whether id `a` comes after id `b` (both ids this service issued or read from the fleet's stream). */
export const isAfter = (a: string, b: string): boolean => compare(parseId(a) as Id, parseId(b) as Id) > 0

/** What a subscriber that last saw an id is owed: the events after it, or a snapshot when it may have missed some. */
export type Resume<T> = { kind: 'events', events: Array<FeedEvent<T>> } | { kind: 'snapshot' }

/** What subscribers follow: this process's feed, or a replica's copy of the fleet's (src/redis/change-stream.ts). */
export interface Feed<T> {
  /**
   * Settles once the feed knows what it holds (a fleet's copy: after its first read of the stream, or once
   * Redis proved unusable): before that, a resume would be judged against a copy that is not yet there.
   */
  readonly ready: Promise<void>
  /** The newest id: what a snapshot taken now is "as of". */
  readonly lastId: string
  /** What a subscriber that last saw `lastEventId` missed. */
  since: (lastEventId: string) => Resume<T>
  /** Calls `listener` with every change from now on; returns the way to stop. */
  subscribe: (listener: (event: FeedEvent<T>) => void) => () => void
}

/**
 * This process's last `capacity` changes, in order, for subscribers to follow and resume from
 * (`Last-Event-ID`). Replaying is only done when it is complete: an id older than the oldest change kept (or
 * than this feed), newer than any it issued, or not an id at all gets a snapshot — the whole current state.
 */
export class MemoryFeed<T> implements Feed<T> {
  /** This process's own changes: known from the start. */
  readonly ready = Promise.resolve()
  readonly #capacity: number
  readonly #events: Array<FeedEvent<T>> = []
  readonly #listeners = new Set<(event: FeedEvent<T>) => void>()
  /** The newest id issued (at first: the feed's start, which a snapshot taken then is "as of"). */
  #last: Id
  /** The oldest id a subscriber may resume from: the feed's start, then the newest change dropped. */
  #floor: Id

  /** `start`: the id it starts after (default: now, so that no id from before this feed can be resumed from). */
  constructor ({ capacity, now, start }: { capacity: number, now: () => number, start?: string }) {
    this.#capacity = capacity
    this.#last = start === undefined ? [now(), 0] : parseId(start) as Id
    this.#floor = this.#last
  }

  /** The newest id: what a snapshot taken now is "as of". */
  get lastId (): string {
    return format(this.#last)
  }

  /** Appends the changes one fetch revealed, in order; each id follows every earlier one (whatever the clock did). */
  append (fetchedAt: number, changes: ReadonlyArray<Omit<FeedEvent<T>, 'id' | 'fetchedAt'>>): Array<FeedEvent<T>> {
    let last = this.#last
    const appended = changes.map((change) => {
      last = fetchedAt > last[0] ? [fetchedAt, 0] : [last[0], last[1] + 1]
      return { ...change, id: format(last), fetchedAt }
    })
    this.add(appended)
    return appended
  }

  /** Adds changes whose ids were issued elsewhere (the fleet's stream), in order; any not after the newest is ignored. */
  add (events: ReadonlyArray<FeedEvent<T>>): void {
    const added = events.filter((event) => {
      const id = parseId(event.id) as Id
      if (compare(id, this.#last) <= 0) return false
      this.#last = id
      return true
    })
    this.#events.push(...added)
    const excess = this.#events.length - this.#capacity
    if (excess > 0) this.#floor = parseId((this.#events.splice(0, excess).at(-1) as FeedEvent<T>).id) as Id
    for (const event of added) for (const listener of this.#listeners) listener(event)
  }

  /** What a subscriber that last saw `lastEventId` missed. */
  since (lastEventId: string): Resume<T> {
    const seen = parseId(lastEventId)
    if (seen === undefined || compare(seen, this.#floor) < 0 || compare(seen, this.#last) > 0) return { kind: 'snapshot' }
    return { kind: 'events', events: this.#events.filter((event) => compare(parseId(event.id) as Id, seen) > 0) }
  }

  /** Calls `listener` with every change appended from now on; returns the way to stop. */
  subscribe (listener: (event: FeedEvent<T>) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }
}
