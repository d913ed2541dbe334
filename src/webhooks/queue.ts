import { randomUUID } from 'node:crypto'
import type { ChangeClass } from '../changes/detector.ts'
import { snapshotData } from '../changes/events.ts'
import type { Observed } from '../changes/tracker.ts'
import type { Log } from '../observability/log.ts'
import type { Metrics } from '../observability/metrics.ts'
import type { SnapshotEvent } from '../schemas/events.ts'

/** What a delivery carries: a change of one class, or a snapshot (the whole current state: resynchronise). */
export type DeliveryKind = ChangeClass | 'snapshot'

/** One change (or snapshot) waiting to be delivered to one endpoint. */
export interface Delivery {
  /** The message's id: the change's feed id (the SSE event id), or the snapshot's own. The same on every retry. */
  id: string
  class: DeliveryKind
  /** What SSE subscribers received for it (for a snapshot: `{balance, profile}`, as SSE's `snapshot` event). */
  data: unknown
  /** When the change was detected, or the snapshot queued (ms since epoch): it is delivered until WEBHOOKS_RETRY_HOURS after. */
  detectedAt: number
}

/** A snapshot to queue: the current state, and when it is queued. */
export interface Resync {
  data: SnapshotEvent
  detectedAt: number
}

/**
 * A snapshot of `latest` (nothing before the first fetch), timed `now`, when it is queued: it is retried
 * WEBHOOKS_RETRY_HOURS from then (when the state was read from Vobiz is its `as_of`).
 */
export function resyncOf (latest: Observed | undefined, now: number): Resync | undefined {
  return latest === undefined ? undefined : { data: snapshotData(latest.profile, latest.fetchedAt), detectedAt: now }
}

/** An endpoint's consecutive failed deliveries, when the next attempt may go out (its breaker), and whether it is disabled. */
export interface EndpointState {
  failures: number
  nextAttemptAt: number
  /**
   * Set once the endpoint answered `410 Gone` (Standard Webhooks: disable it): when, and the digest of its
   * WEBHOOKS_FILE entry then. Its deliverer enables it again once the entry differs (or SIGHUP changed it).
   */
  disabled?: { at: number, entry: string }
}

export const HEALTHY: Readonly<EndpointState> = Object.freeze({ failures: 0, nextAttemptAt: 0 })

/**
 * Each endpoint's deliveries, oldest first, and its retry state: in this process (MemoryWebhookQueue) or in
 * Redis for the whole fleet (src/redis/webhook-queue.ts), where a lease makes one replica at a time the
 * endpoint's deliverer. A delivery leaves the queue only once delivered (or expired), so a deliverer that
 * dies mid-delivery leaves it to the next one. A queue holds at most one snapshot: whatever was lost before
 * it (dropped, expired) is covered by it, as it is newer.
 */
export interface WebhookQueue {
  /** Whether this replica delivers to `endpoint` now (and keeps the right for a while); memory: always. */
  lead: (endpoint: string) => Promise<boolean>
  /** Gives the right up (the endpoint left the configuration, or the replica stops). */
  resign: (endpoint: string) => Promise<void>
  /** The oldest undelivered change, if any. */
  head: (endpoint: string) => Promise<Delivery | undefined>
  /** Delivered (or given up on): out of the queue, if it is still its head. */
  remove: (endpoint: string, id: string) => Promise<void>
  /** Queues a snapshot at the tail, unless one is queued already (which comes after whatever was lost, too). */
  resync: (endpoint: string, snapshot: Resync) => Promise<void>
  /** Empties the queue (the endpoint is disabled: what it was owed is replaced by a snapshot once it is enabled). */
  clear: (endpoint: string) => Promise<void>
  state: (endpoint: string) => Promise<EndpointState>
  setState: (endpoint: string, state: EndpointState) => Promise<void>
  /** Undelivered changes, and when the oldest was detected. */
  stats: (endpoint: string) => Promise<{ depth: number, oldestAt: number | undefined }>
}

/** Where a full queue's drops are reported, and its having room again (DropEpisodes). */
export type DropReport = Pick<DropEpisodes, 'dropped' | 'room'>

interface Queue {
  deliveries: Delivery[]
  state: EndpointState
  /** The id of the snapshot queued, if any. */
  snapshot: string | undefined
}

/**
 * Without Redis: queues in this process. A restart loses what was not yet delivered (the first fetch after it
 * queues a snapshot to every endpoint instead); each queue keeps at most `max` changes, dropping the oldest
 * (reported to `drops`) and queueing a snapshot after them. A disabled endpoint is queued nothing.
 */
export class MemoryWebhookQueue implements WebhookQueue {
  readonly #queues = new Map<string, Queue>()
  readonly #max: number
  readonly #drops: DropReport

  constructor ({ max, drops }: { max: number, drops: DropReport }) {
    this.#max = max
    this.#drops = drops
  }

  #queue (endpoint: string): Queue {
    let queue = this.#queues.get(endpoint)
    if (queue === undefined) {
      queue = { deliveries: [], state: HEALTHY, snapshot: undefined }
      this.#queues.set(endpoint, queue)
    }
    return queue
  }

  /** Queues `delivery` for each of `endpoints`; a full queue drops its oldest and gets `snapshot()` after them. */
  enqueue (endpoints: readonly string[], delivery: Delivery, snapshot: () => Resync): void {
    for (const endpoint of endpoints) {
      const queue = this.#queue(endpoint)
      if (queue.state.disabled !== undefined) continue
      let dropped = 0
      while (queue.deliveries.length - (queue.snapshot === undefined ? 0 : 1) >= this.#max) {
        const oldest = queue.deliveries.shift() as Delivery
        if (oldest.id === queue.snapshot) queue.snapshot = undefined
        else dropped += 1
      }
      queue.deliveries.push(delivery)
      if (dropped === 0) {
        this.#drops.room(endpoint)
        continue
      }
      this.#resync(queue, snapshot())
      this.#drops.dropped(endpoint, dropped)
    }
  }

  #resync (queue: Queue, { data, detectedAt }: Resync): void {
    if (queue.snapshot !== undefined) return
    queue.snapshot = randomUUID()
    queue.deliveries.push({ id: queue.snapshot, class: 'snapshot', data, detectedAt })
  }

  async lead (): Promise<boolean> { return true }
  async resign (endpoint: string): Promise<void> { this.#queues.delete(endpoint) }
  async head (endpoint: string): Promise<Delivery | undefined> { return this.#queue(endpoint).deliveries[0] }
  async remove (endpoint: string, id: string): Promise<void> {
    const queue = this.#queue(endpoint)
    if (queue.deliveries[0]?.id !== id) return
    queue.deliveries.shift()
    if (queue.snapshot === id) queue.snapshot = undefined
  }

  async resync (endpoint: string, snapshot: Resync): Promise<void> { this.#resync(this.#queue(endpoint), snapshot) }
  async clear (endpoint: string): Promise<void> {
    const queue = this.#queue(endpoint)
    queue.deliveries = []
    queue.snapshot = undefined
  }

  async state (endpoint: string): Promise<EndpointState> { return this.#queue(endpoint).state }
  async setState (endpoint: string, state: EndpointState): Promise<void> { this.#queue(endpoint).state = state }
  async stats (endpoint: string): Promise<{ depth: number, oldestAt: number | undefined }> {
    const { deliveries } = this.#queue(endpoint)
    return { depth: deliveries.length, oldestAt: deliveries[0]?.detectedAt }
  }
}

/**
 * A full queue's drops, wherever the queue lives: every one counted (`dropped`), but logged once when an
 * endpoint's queue starts dropping, and once more with the total when the episode ends — the queue had room
 * for the next change, or delivered one. (With Redis, each replica reports the drops of its own publishes.)
 */
export class DropEpisodes {
  readonly #metrics: Pick<Metrics, 'webhookDeliveries'>
  readonly #log: Log
  /** Endpoints whose queue is dropping now, with how many so far. */
  readonly #open = new Map<string, number>()

  constructor (metrics: Pick<Metrics, 'webhookDeliveries'>, log: Log) {
    this.#metrics = metrics
    this.#log = log
  }

  dropped (endpoint: string, count: number): void {
    this.#metrics.webhookDeliveries.inc({ endpoint, result: 'dropped' }, count)
    const before = this.#open.get(endpoint)
    this.#open.set(endpoint, (before ?? 0) + count)
    if (before !== undefined) return
    this.#log.error({ endpoint, dropped: count }, 'webhook queue full (WEBHOOKS_QUEUE_MAX): dropping its oldest changes, a snapshot is queued after them; the total is logged when it has room again')
  }

  /** The queue took a change without dropping, or delivered one: an episode, if any, is over. */
  room (endpoint: string): void {
    const total = this.#open.get(endpoint)
    if (total === undefined) return
    this.#open.delete(endpoint)
    this.#log.warn({ endpoint, dropped: total }, 'webhook queue has room again; the changes it dropped are covered by the snapshot queued after them')
  }
}
