import type { ChangeClass } from '../changes/detector.ts'
import type { Log } from '../observability/log.ts'
import type { Metrics } from '../observability/metrics.ts'

/** One change waiting to be delivered to one endpoint. */
export interface Delivery {
  /** The change's feed id (the SSE event id): the message's `webhook-id` is made from it, the same on every retry. */
  id: string
  class: ChangeClass
  /** What SSE subscribers received for it. */
  data: unknown
  /** When the change was detected (ms since epoch): it is delivered until WEBHOOKS_RETRY_HOURS after. */
  detectedAt: number
}

/** An endpoint's consecutive failed deliveries, and when the next attempt may go out (its breaker). */
export interface EndpointState {
  failures: number
  nextAttemptAt: number
}

export const HEALTHY: Readonly<EndpointState> = Object.freeze({ failures: 0, nextAttemptAt: 0 })

/**
 * Each endpoint's deliveries, oldest first, and its retry state: in this process (MemoryWebhookQueue) or in
 * Redis for the whole fleet (src/redis/webhook-queue.ts), where a lease makes one replica at a time the
 * endpoint's deliverer. A delivery leaves the queue only once delivered (or expired), so a deliverer that
 * dies mid-delivery leaves it to the next one.
 */
export interface WebhookQueue {
  /** Whether this replica delivers to `endpoint` now (and keeps the right for a while); memory: always. */
  lead: (endpoint: string) => Promise<boolean>
  /** Gives the right up (the endpoint left the configuration, or the replica stops). */
  resign: (endpoint: string) => Promise<void>
  /** The oldest undelivered change, if any. */
  head: (endpoint: string) => Promise<Delivery | undefined>
  /** Delivered (or given up on): out of the queue. */
  remove: (endpoint: string, id: string) => Promise<void>
  state: (endpoint: string) => Promise<EndpointState>
  setState: (endpoint: string, state: EndpointState) => Promise<void>
  /** Undelivered changes, and when the oldest was detected. */
  stats: (endpoint: string) => Promise<{ depth: number, oldestAt: number | undefined }>
}

/**
 * Without Redis: queues in this process. A restart loses what was not yet delivered (the README says so);
 * each queue keeps at most `max` changes, dropping the oldest (counted by `onDropped`).
 */
export class MemoryWebhookQueue implements WebhookQueue {
  readonly #queues = new Map<string, { deliveries: Delivery[], state: EndpointState }>()
  readonly #max: number
  readonly #onDropped: (endpoint: string, count: number) => void

  constructor ({ max, onDropped }: { max: number, onDropped: (endpoint: string, count: number) => void }) {
    this.#max = max
    this.#onDropped = onDropped
  }

  #queue (endpoint: string): { deliveries: Delivery[], state: EndpointState } {
    let queue = this.#queues.get(endpoint)
    if (queue === undefined) {
      queue = { deliveries: [], state: HEALTHY }
      this.#queues.set(endpoint, queue)
    }
    return queue
  }

  /** Queues `delivery` for each of `endpoints`. */
  enqueue (endpoints: readonly string[], delivery: Delivery): void {
    for (const endpoint of endpoints) {
      const { deliveries } = this.#queue(endpoint)
      deliveries.push(delivery)
      const excess = deliveries.length - this.#max
      if (excess > 0) {
        deliveries.splice(0, excess)
        this.#onDropped(endpoint, excess)
      }
    }
  }

  async lead (): Promise<boolean> { return true }
  async resign (endpoint: string): Promise<void> { this.#queues.delete(endpoint) }
  async head (endpoint: string): Promise<Delivery | undefined> { return this.#queue(endpoint).deliveries[0] }
  async remove (endpoint: string, id: string): Promise<void> {
    const { deliveries } = this.#queue(endpoint)
    if (deliveries[0]?.id === id) deliveries.shift()
  }

  async state (endpoint: string): Promise<EndpointState> { return this.#queue(endpoint).state }
  async setState (endpoint: string, state: EndpointState): Promise<void> { this.#queue(endpoint).state = state }
  async stats (endpoint: string): Promise<{ depth: number, oldestAt: number | undefined }> {
    const { deliveries } = this.#queue(endpoint)
    return { depth: deliveries.length, oldestAt: deliveries[0]?.detectedAt }
  }
}

/** What a full queue's drop is: counted (`dropped`) and logged, wherever the queue lives. */
export function reportDrops (metrics: Pick<Metrics, 'webhookDeliveries'>, log: Log): (endpoint: string, count: number) => void {
  return (endpoint, count) => {
    metrics.webhookDeliveries.inc({ endpoint, result: 'dropped' }, count)
    log.error({ endpoint, dropped: count }, 'webhook queue full (WEBHOOKS_QUEUE_MAX): the oldest changes were dropped')
  }
}
