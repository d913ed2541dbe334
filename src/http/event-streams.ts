import { END_REASONS, type EndEvent } from '../schemas/events.ts'
import type { Caller, Identity } from './identity.ts'
import { problem, type ProblemError } from './problems.ts'

/**
 * Why a stream ended: its client left (`client`), or the service ended it (the `reason` of its `event: end`:
 * shutting down, a slow client, a key revoked or narrowed by a reload, a token that expired).
 */
export type EndReason = 'client' | EndEvent['reason']
/** Every reason, for the metric's series. */
export const ALL_END_REASONS: readonly EndReason[] = ['client', ...END_REASONS]

/** What a stream that the service ends is told in its last message. */
export const END_DETAIL: Record<EndEvent['reason'], string> = {
  shutdown: 'This replica is shutting down: reconnect (with Last-Event-ID) to resume.',
  slow: 'This stream was not read fast enough (EVENTS_MAX_BUFFERED_BYTES unread): reconnect (with Last-Event-ID) to resume.',
  revoked: 'The credential this stream was opened with is no longer accepted, or no longer for the same consumer.',
  scope_reduced: 'The credential this stream was opened with no longer grants profile:read: reconnect for the events it now allows.',
  expired: 'The bearer token this stream was opened with has expired: reconnect with a new one.'
}

/** One open stream: who opened it, who its credential says the caller is now, and how the service ends it. */
export interface OpenStream {
  identity: Caller
  reidentify: () => Identity
  end: (reason: EndEvent['reason']) => void
}

export interface StreamLimits {
  /** EVENTS_MAX_STREAMS: open streams on this replica, all callers together. */
  maxStreams: number
  /** EVENTS_MAX_STREAMS_PER_CALLER: open streams per caller (the rate limiter's key) on this replica. */
  maxPerCaller: number
}

/**
 * What one open stream may take of the heap, at most: the budget EVENTS_MAX_STREAMS is sized with (the bench
 * measures the real figure, for API-key and JWT streams; docs/performance.md).
 */
export const STREAM_BUDGET_BYTES = 16 * 1024
/** EVENTS_MAX_STREAMS without heap shedding: a bound all the same. */
const UNBOUNDED_HEAP_MAX_STREAMS = 10_000

/**
 * EVENTS_MAX_STREAMS when it is not set: streams may take a third of MAX_HEAP_USED_BYTES, so that however
 * many callers open streams, the heap stays well below the point where ordinary requests are shed.
 */
export function defaultMaxStreams (maxHeapUsedBytes: number): number {
  if (maxHeapUsedBytes === 0) return UNBOUNDED_HEAP_MAX_STREAMS
  return Math.max(1, Math.floor(maxHeapUsedBytes / 3 / STREAM_BUDGET_BYTES))
}

/** Seconds a caller refused for the total cap is asked to wait: long enough for the load to move elsewhere. */
const FULL_RETRY_AFTER_SECONDS = 30
/** Seconds a caller at its own limit is asked to wait before trying again. */
const CALLER_RETRY_AFTER_SECONDS = 5

/**
 * The open GET /profile/events streams of this replica: admitted against the total and per-caller limits,
 * counted from the moment they are known to be connected until they end, whatever ends them: every count
 * taken by `add` is given back by the function it returns.
 */
export class EventStreams {
  readonly #limits: StreamLimits
  readonly #open = new Set<OpenStream>()
  readonly #perCaller = new Map<string, number>()

  constructor (limits: StreamLimits) {
    this.#limits = limits
  }

  get size (): number {
    return this.#open.size
  }

  /** Callers with an open stream: a caller whose last stream closed holds no entry. */
  get callers (): number {
    return this.#perCaller.size
  }

  /** Open streams of the caller whose rate key is `rateKey`. */
  of (rateKey: string): number {
    return this.#perCaller.get(rateKey) ?? 0
  }

  /** Why `identity` may not open one more stream now (503 at the total cap, 429 at its own), or undefined. */
  refusal (identity: Caller): ProblemError | undefined {
    if (this.#open.size >= this.#limits.maxStreams) {
      return problem('service_unavailable', `This replica holds its maximum of ${this.#limits.maxStreams} event streams (EVENTS_MAX_STREAMS); retry later, or on another replica.`, { 'retry-after': String(FULL_RETRY_AFTER_SECONDS) })
    }
    const streams = this.of(identity.rateKey)
    if (streams >= this.#limits.maxPerCaller) {
      return problem('rate_limited', `This caller already has ${streams} open event streams (EVENTS_MAX_STREAMS_PER_CALLER); close one first.`, { 'retry-after': String(CALLER_RETRY_AFTER_SECONDS) })
    }
    return undefined
  }

  /** Counts `stream` as open; returns the way to uncount it (called once, when the stream closes). */
  add (stream: OpenStream): () => void {
    const key = stream.identity.rateKey
    this.#open.add(stream)
    this.#perCaller.set(key, this.of(key) + 1)
    return () => {
      this.#open.delete(stream)
      const left = this.of(key) - 1
      if (left === 0) this.#perCaller.delete(key)
      else this.#perCaller.set(key, left)
    }
  }

  /**
   * Ends every stream that `verdict` has a reason to end, and tells how many ended for which reason and whose
   * they were (for one log line, however many streams).
   */
  review (verdict: (stream: OpenStream) => EndEvent['reason'] | undefined): { ended: Partial<Record<EndReason, number>>, callers: string[] } {
    const ended: Partial<Record<EndReason, number>> = {}
    const callers = new Set<string>()
    for (const stream of [...this.#open]) {
      const reason = verdict(stream)
      if (reason === undefined) continue
      ended[reason] = (ended[reason] ?? 0) + 1
      callers.add(stream.identity.name)
      stream.end(reason)
    }
    return { ended, callers: [...callers] }
  }
}
