import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Agent } from 'undici'
import type { Config } from '../config.ts'
import type { SecretFilter } from '../observability/secret-filter.ts'
import { MemoryWebhookQueue, resyncOf, type Resync, type WebhookQueue } from '../webhooks/queue.ts'
import { send } from '../webhooks/send.ts'
import { parseSubscriptions, type Subscription } from '../webhooks/subscriptions.ts'
import { EndpointWorker, type EndpointStats } from '../webhooks/worker.ts'
import { ReloadRefused } from './file-reloads.ts'
import { messageOf } from '../caught.ts'

export interface WebhooksPluginOptions {
  config: Config
  /** The log's secret filter, told every signing secret. */
  secrets: Pick<SecretFilter, 'add'>
  now: () => number
}

/** How long an idle deliverer waits before looking at its queue again (it is woken when a change is queued). */
const IDLE_MS = 1000
/** A deliverer's lease outlives its longest step by this much. */
const LEASE_MARGIN_MS = 2000

/** The queue: this process's, filled as the feed publishes; or the fleet's in Redis, filled by the publishing script. */
async function webhookQueue (app: FastifyInstance, config: Config, snapshot: () => Resync | undefined): Promise<WebhookQueue> {
  const { subscriptions, feed, webhookDrops } = app.changes
  if (app.fleet === null) {
    // Queued after the tracker took the fetch in: a full queue's snapshot is as of the change.
    const memory = new MemoryWebhookQueue({ max: config.WEBHOOKS_QUEUE_MAX, drops: webhookDrops })
    feed.subscribe((event) => { memory.enqueue(subscriptions.routes(event.class), { id: event.id, class: event.class, data: event.data, detectedAt: event.fetchedAt }, snapshot as () => Resync) })
    return memory
  }
  // The lease outlives an idle wait and a whole attempt.
  const { RedisWebhookQueue } = await import('../redis/webhook-queue.ts')
  return new RedisWebhookQueue({ link: app.fleet.link, prefix: config.REDIS_KEY_PREFIX, token: app.fleet.token, leaseMs: IDLE_MS + config.WEBHOOKS_TIMEOUT_MS + LEASE_MARGIN_MS })
}

/**
 * SIGHUP: every disabled endpoint is marked with an entry no subscription has, so that its deliverer (on
 * whichever replica holds it) enables it at its next look, with a snapshot first.
 */
async function markForEnabling (queue: WebhookQueue, names: readonly string[]): Promise<void> {
  await Promise.all(names.map(async (name) => {
    const state = await queue.state(name)
    if (state.disabled !== undefined) await queue.setState(name, { ...state, disabled: { ...state.disabled, entry: 'SIGHUP' } })
  }))
}

/**
 * Webhooks: each change is queued for the endpoints subscribed to its class, and each endpoint's deliverer
 * POSTs its queue in order, signed (src/webhooks/). Subscriptions come from WEBHOOKS_FILE and are reloaded
 * like consumers: a new endpoint gets changes from then on, a removed one stops (its undelivered changes
 * with it), a changed url, secret or events apply from the next attempt. Where a receiver cannot be given
 * every change, it is sent a `profile.snapshot` (src/webhooks/queue.ts says when); without Redis, the first
 * fetch after start queues one to every endpoint, as the process cannot know what it missed while down.
 */
async function webhooks (app: FastifyInstance, { config, secrets, now }: WebhooksPluginOptions): Promise<void> {
  const { subscriptions, feed, keepFresh, tracker, webhookDrops } = app.changes
  const log = app.log.child({ component: 'webhooks' })
  // The webhooks' own pool: never Vobiz's connections; undici follows no redirect unless told to.
  const dispatcher = new Agent({ connect: { timeout: config.WEBHOOKS_TIMEOUT_MS }, headersTimeout: config.WEBHOOKS_TIMEOUT_MS, bodyTimeout: config.WEBHOOKS_TIMEOUT_MS })
  const workers = new Map<string, EndpointWorker>()
  const snapshot = (): Resync | undefined => resyncOf(tracker.latest, now())
  const queue = await webhookQueue(app, config, snapshot)
  // A change seen (here, or on the fleet's stream): its deliverers look at once.
  const wakeAll = (): void => { for (const worker of workers.values()) worker.wake() }
  feed.subscribe(wakeAll)
  // Without Redis, the first fetch: whatever changed while the process was down is unknown, so every endpoint
  // is sent the whole state (the memory queue is fresh, so nothing is queued before it).
  app.changes.onBaseline((observed) => {
    if (subscriptions.names.length > 0) log.info({ endpoints: subscriptions.names }, 'first fetch since start: a snapshot is queued to every webhook endpoint')
    // The memory queue's steps never fail.
    Promise.all(subscriptions.names.map(async (name) => { await queue.resync(name, resyncOf(observed, now()) as Resync) })).then(wakeAll)
  })

  const stats = new Map<string, EndpointStats>()
  app.metrics.watch({
    webhooks: () => [...stats].map(([endpoint, s]) => ({ endpoint, depth: s.depth, oldestAgeMs: s.oldestAt === undefined ? undefined : now() - s.oldestAt, failures: s.failures, disabled: s.disabled }))
  })
  let releaseKeepFresh: (() => void) | undefined

  /** Starts a deliverer per new endpoint, stops those of removed ones; with any endpoint, the profile is kept fresh. */
  const reconcile = async (): Promise<void> => {
    const names = new Set(subscriptions.names)
    for (const name of names) {
      if (workers.has(name)) continue
      const worker = new EndpointWorker({
        name,
        subscription: () => subscriptions.get(name),
        queue,
        send: async (subscription, delivery) => await send(subscription, delivery, { dispatcher, timeoutMs: config.WEBHOOKS_TIMEOUT_MS, userAgent: 'vobiz-partner-bff', maxRetryAfterSeconds: config.WEBHOOKS_BACKOFF_MAX_SECONDS }),
        maxAgeMs: config.WEBHOOKS_RETRY_HOURS * 3_600_000,
        maxBackoffMs: config.WEBHOOKS_BACKOFF_MAX_SECONDS * 1000,
        idleMs: IDLE_MS,
        now,
        snapshot,
        log,
        onResult: (endpoint, result) => {
          app.metrics.webhookDeliveries.inc({ endpoint, result })
          if (result === 'delivered') webhookDrops.room(endpoint)
        },
        onStats: (endpoint, s) => { if (s === undefined) stats.delete(endpoint); else stats.set(endpoint, s) }
      })
      workers.set(name, worker)
      worker.start()
    }
    await Promise.all([...workers].filter(([name]) => !names.has(name)).map(async ([name, worker]) => {
      workers.delete(name)
      await worker.stop()
      stats.delete(name)
    }))
    if (names.size > 0) releaseKeepFresh ??= keepFresh.hold()
    else {
      releaseKeepFresh?.()
      releaseKeepFresh = undefined
    }
  }

  const trust = (list: readonly Subscription[]): void => { secrets.add(list.map((subscription) => subscription.secret)) }
  trust(config.webhooks)
  if (config.WEBHOOKS_FILE !== undefined) {
    app.fileReloads.watch('webhooks', [config.WEBHOOKS_FILE], ([source], { hangUp }) => {
      const problems: string[] = []
      const next = parseSubscriptions(source as string, problems)
      if (problems.length > 0) throw new ReloadRefused(problems.join('; '))
      trust(next)
      const before = new Set(subscriptions.names)
      subscriptions.replace(next)
      log.info({ endpoints: next.length, added: next.filter((s) => !before.has(s.name)).map((s) => s.name), removed: [...before].filter((name) => subscriptions.get(name) === undefined) }, 'webhook subscriptions reloaded')
      // Never rejects: a deliverer's loop keeps its own errors.
      reconcile()
      if (hangUp) markForEnabling(queue, subscriptions.names).then(wakeAll, (err: unknown) => { log.error({ reason: messageOf(err) }, 'SIGHUP: disabled webhook endpoints not enabled (Redis unusable); send SIGHUP again once it is back') })
    })
  }
  app.addHook('onReady', reconcile)
  app.addHook('onClose', async () => {
    releaseKeepFresh?.()
    await Promise.all([...workers.values()].map(async (worker) => { await worker.stop() }))
    await dispatcher.close()
  })
}

export default fp(webhooks, { name: 'webhooks', fastify: '5.x', dependencies: ['metrics', 'changes', 'profiles', 'file-reloads'] })
