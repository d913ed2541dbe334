import type { Log } from '../observability/log.ts'
import { HEALTHY, type Delivery, type EndpointState, type Resync, type WebhookQueue } from './queue.ts'
import type { Attempt } from './send.ts'
import { entryDigest, readsProfile, wants, type Subscription } from './subscriptions.ts'
import { messageOf } from '../caught.ts'

/** The outcomes counted in vobiz_bff_webhook_deliveries_total. */
export type DeliveryResult = 'delivered' | 'failed' | 'expired'

export interface WorkerOptions {
  name: string
  /** The endpoint's subscription now (reloads change it), or undefined once it is gone. */
  subscription: () => Subscription | undefined
  queue: WebhookQueue
  send: (subscription: Subscription, delivery: Delivery) => Promise<Attempt>
  /** WEBHOOKS_RETRY_HOURS in ms: a change still undelivered this long after it was detected is given up. */
  maxAgeMs: number
  /** WEBHOOKS_BACKOFF_MAX_SECONDS in ms: the longest wait between two attempts. */
  maxBackoffMs: number
  /** How long the worker waits at most before looking again (it is also woken when a change is queued). */
  idleMs: number
  now: () => number
  /** The current state, for a snapshot (undefined before the first fetch). */
  snapshot: () => Resync | undefined
  log: Log
  onResult: (endpoint: string, result: DeliveryResult) => void
  /** What the endpoint's metrics report; undefined while another replica delivers to it. */
  onStats: (endpoint: string, stats: EndpointStats | undefined) => void
}

export interface EndpointStats {
  depth: number
  oldestAt: number | undefined
  failures: number
  disabled: boolean
}

/** A snapshot without the profile: `{balance}`. */
const withoutProfile = (delivery: Delivery): Delivery => ({ ...delivery, data: { balance: (delivery.data as { balance: unknown }).balance } })

/** The wait before attempt `failures + 1`: 1 s doubling per failure up to the cap, each with ±25% jitter so endpoints spread out. */
export function backoffMs (failures: number, maxMs: number): number {
  const base = Math.min(maxMs, 1000 * 2 ** Math.min(failures - 1, 30))
  return Math.round(base * (0.75 + Math.random() * 0.5))
}

/**
 * Delivers one endpoint's queue, oldest first, one attempt at a time: the receiver sees changes in order, and
 * a change is removed only once delivered, so it is delivered at least once. A failed attempt holds the
 * whole queue back for the backoff (the endpoint's breaker: one probe per period, however much is queued,
 * and other endpoints unaffected), or for as long as a 429 or 503 asked (`Retry-After`) if that is longer; a
 * change past WEBHOOKS_RETRY_HOURS is given up, logged, counted and replaced by a snapshot at the tail of the
 * queue. An endpoint answering `410 Gone` is disabled (Standard Webhooks, "Delivery success and failure"):
 * its queue is emptied and nothing is sent until its entry in WEBHOOKS_FILE changes (or SIGHUP), when it
 * gets a snapshot first. Where a fleet shares the queue, only the replica holding the endpoint's lease delivers.
 */
export class EndpointWorker {
  readonly #options: WorkerOptions
  #stopped = false
  #wake: (() => void) | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined

  constructor (options: WorkerOptions) {
    this.#options = options
  }

  start (): void {
    this.#running = this.#loop()
  }

  /** Something was queued: look now rather than at the next idle check. */
  wake (): void {
    this.#wake?.()
  }

  /** Stops after the attempt in flight, if any, and gives the lease up. */
  async stop (): Promise<void> {
    this.#stopped = true
    this.wake()
    await this.#running
    await this.#options.queue.resign(this.#options.name).catch(() => {})
  }

  async #loop (): Promise<void> {
    const { name, queue, log, idleMs, onStats } = this.#options
    let failing = false
    while (!this.#stopped) {
      let waitMs = idleMs
      try {
        if (await queue.lead(name)) {
          waitMs = Math.min(idleMs, await this.#step())
        } else {
          onStats(name, undefined)
        }
        failing = false
      } catch (err) {
        // The queue's store (Redis) failed: nothing was lost, the same change is tried again.
        if (!failing) log.error({ endpoint: name, reason: messageOf(err) }, 'webhook queue unusable; deliveries wait for it')
        failing = true
      }
      await this.#sleep(waitMs)
    }
  }

  /** One step: an attempt, or why not yet. Returns how long to wait before the next step. */
  async #step (): Promise<number> {
    const { name, queue, now, log, onResult } = this.#options
    const state = await queue.state(name)
    await this.#report(state)
    const subscription = this.#options.subscription()
    if (state.disabled !== undefined) return await this.#whileDisabled(state.disabled.entry, subscription)
    const wait = state.nextAttemptAt - now()
    if (wait > 0) return wait
    const delivery = await queue.head(name)
    if (delivery === undefined || subscription === undefined) return this.#options.idleMs
    if (now() - delivery.detectedAt > this.#options.maxAgeMs) {
      await queue.remove(name, delivery.id)
      onResult(name, 'expired')
      log.error({ endpoint: name, webhook_id: delivery.id, attempts: state.failures }, 'webhook given up: still undelivered WEBHOOKS_RETRY_HOURS after the change; a snapshot is queued instead')
      await this.#resync()
      return 0
    }
    // The subscription's events changed since this was queued (a snapshot is for every endpoint).
    if (delivery.class !== 'snapshot' && !wants(subscription, delivery.class)) {
      await queue.remove(name, delivery.id)
      return 0
    }
    const attempt = await this.#options.send(subscription, delivery.class === 'snapshot' && !readsProfile(subscription) ? withoutProfile(delivery) : delivery)
    if (attempt.ok) {
      await queue.remove(name, delivery.id)
      onResult(name, 'delivered')
      if (state.failures > 0) {
        await queue.setState(name, HEALTHY)
        log.info({ endpoint: name, failures: state.failures }, 'webhook endpoint delivering again')
      }
      return 0
    }
    onResult(name, 'failed')
    if (attempt.status === 410) {
      await queue.setState(name, { ...HEALTHY, disabled: { at: now(), entry: entryDigest(subscription) } })
      await queue.clear(name)
      log.error({ endpoint: name, webhook_id: delivery.id }, 'webhook endpoint answered 410 Gone: disabled, nothing more is sent to it until its entry in WEBHOOKS_FILE changes or SIGHUP')
      return 0
    }
    const failures = state.failures + 1
    const delayMs = Math.max(backoffMs(failures, this.#options.maxBackoffMs), attempt.retryAfterMs ?? 0)
    await queue.setState(name, { failures, nextAttemptAt: now() + delayMs })
    // The first failure and every tenth: an endpoint down for hours is not a line per attempt.
    if (failures === 1 || failures % 10 === 0) {
      log.warn({ endpoint: name, reason: attempt.reason, failures, retry_in_ms: delayMs }, 'webhook delivery failed; retrying with backoff')
    }
    return delayMs
  }

  /**
   * A disabled endpoint: nothing is sent until its entry differs from the one it was disabled with (SIGHUP
   * marks every disabled endpoint so); then it is enabled with a snapshot first, once the state is known.
   */
  async #whileDisabled (entry: string, subscription: Subscription | undefined): Promise<number> {
    const { name, queue, idleMs, log } = this.#options
    if (subscription === undefined || entryDigest(subscription) === entry || this.#options.snapshot() === undefined) return idleMs
    await queue.clear(name)
    await queue.setState(name, HEALTHY)
    await this.#resync()
    log.info({ endpoint: name }, 'webhook endpoint enabled again (its entry in WEBHOOKS_FILE changed, or SIGHUP): a snapshot is sent first')
    return 0
  }

  /** Queues a snapshot of the current state, unless one is queued (there is one as soon as anything was fetched). */
  async #resync (): Promise<void> {
    const snapshot = this.#options.snapshot()
    if (snapshot !== undefined) await this.#options.queue.resync(this.#options.name, snapshot)
  }

  async #report ({ failures, disabled }: EndpointState): Promise<void> {
    const stats = await this.#options.queue.stats(this.#options.name)
    this.#options.onStats(this.#options.name, { ...stats, failures, disabled: disabled !== undefined })
  }

  async #sleep (ms: number): Promise<void> {
    if (this.#stopped) return
    await new Promise<void>((resolve) => {
      this.#wake = resolve
      this.#timer = setTimeout(resolve, ms)
      this.#timer.unref()
    })
    clearTimeout(this.#timer)
    this.#wake = undefined
  }
}
