import type { Profile } from '../schemas/profile.ts'
import type { ChangeEventData } from '../schemas/events.ts'
import { detectChanges, type ChangeClass } from './detector.ts'
import { eventData } from './events.ts'
import type { MemoryFeed } from './feed.ts'

/** The latest profile seen, and when the fetch that produced it started. */
export interface Observed {
  profile: Profile
  fetchedAt: number
}

export interface ChangeTrackerOptions {
  feed: Pick<MemoryFeed<ChangeEventData>, 'append'>
  /** BALANCE_THRESHOLDS. */
  thresholds: readonly number[]
  /** Told each change detected (for metrics). */
  onChange?: (cls: ChangeClass) => void
  /** Told of the first fetch: the baseline, before which this process knows nothing (webhooks resync from it). */
  onBaseline?: (observed: Observed) => void
}

/**
 * Compares each newly fetched profile with the one before and appends what changed to the feed. Only newer
 * fetches count (a load may hand back a copy already seen); the first fetch is the baseline, not a change.
 */
export class ChangeTracker {
  readonly #options: ChangeTrackerOptions
  #latest: Observed | undefined

  constructor (options: ChangeTrackerOptions) {
    this.#options = options
  }

  /** The latest profile seen, if any. */
  get latest (): Observed | undefined {
    return this.#latest
  }

  observe (profile: Profile, fetchedAt: number): void {
    const previous = this.#latest
    if (previous !== undefined && fetchedAt <= previous.fetchedAt) return
    this.#latest = { profile, fetchedAt }
    if (previous === undefined) {
      this.#options.onBaseline?.(this.#latest)
      return
    }
    const changes = detectChanges(previous.profile, profile, this.#options.thresholds)
    if (changes.length === 0) return
    for (const change of changes) this.#options.onChange?.(change.class)
    this.#options.feed.append(fetchedAt, changes.map((change) => ({ class: change.class, data: eventData(change, previous.profile, profile, fetchedAt) })))
  }
}
