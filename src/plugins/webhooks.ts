import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Agent } from 'undici'
import type { Config } from '../config.ts'
import type { SecretFilter } from '../observability/secret-filter.ts'
import { MemoryWebhookQueue, reportDrops, type WebhookQueue } from '../webhooks/queue.ts'
import { send } from '../webhooks/send.ts'
import { parseSubscriptions, type Subscription } from '../webhooks/subscriptions.ts'
import { EndpointWorker, type EndpointStats } from '../webhooks/worker.ts'
import { ReloadRefused } from './file-reloads.ts'

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

/**
 * Webhooks: each change is queued for the endpoints subscribed to its class, and each endpoint's deliverer
 * POSTs its queue in order, signed (src/webhooks/). Subscriptions come from WEBHOOKS_FILE and are reloaded
 * like consumers: a new endpoint gets changes from then on, a removed one stops (its undelivered changes
 * with it), a changed url, secret or events apply from the next attempt.
 */
async function webhooks (app: FastifyInstance, { config, secrets, now }: WebhooksPluginOptions): Promise<void> {
  const { subscriptions, feed, keepFresh } = app.changes
  const log = app.log.child({ component: 'webhooks' })
  // The webhooks' own pool: never Vobiz's connections; undici follows no redirect unless told to.
  const dispatcher = new Agent({ connect: { timeout: config.WEBHOOKS_TIMEOUT_MS }, headersTimeout: config.WEBHOOKS_TIMEOUT_MS, bodyTimeout: config.WEBHOOKS_TIMEOUT_MS })
  const workers = new Map<string, EndpointWorker>()
  let queue: WebhookQueue
  if (app.fleet === null) {
    // One replica: changes are queued here as the feed publishes them.
    const memory = new MemoryWebhookQueue({ max: config.WEBHOOKS_QUEUE_MAX, onDropped: reportDrops(app.metrics, log) })
    feed.subscribe((event) => { memory.enqueue(subscriptions.routes(event.class), { id: event.id, class: event.class, data: event.data, detectedAt: event.fetchedAt }) })
    queue = memory
  } else {
    // The fleet: queued in Redis as they are published; the lease outlives an idle wait and a whole attempt.
    const { RedisWebhookQueue } = await import('../redis/webhook-queue.ts')
    queue = new RedisWebhookQueue({ link: app.fleet.link, prefix: config.REDIS_KEY_PREFIX, token: app.fleet.token, leaseMs: IDLE_MS + config.WEBHOOKS_TIMEOUT_MS + LEASE_MARGIN_MS })
  }
  // A change seen (here, or on the fleet's stream): its deliverers look at once.
  feed.subscribe(() => { for (const worker of workers.values()) worker.wake() })

  const stats = new Map<string, EndpointStats>()
  app.metrics.watch({
    webhooks: () => [...stats].map(([endpoint, s]) => ({ endpoint, depth: s.depth, oldestAgeMs: s.oldestAt === undefined ? undefined : now() - s.oldestAt, failures: s.failures }))
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
        send: async (subscription, delivery) => await send(subscription, delivery, { dispatcher, timeoutMs: config.WEBHOOKS_TIMEOUT_MS, userAgent: 'vobiz-partner-bff' }),
        maxAgeMs: config.WEBHOOKS_RETRY_HOURS * 3_600_000,
        maxBackoffMs: config.WEBHOOKS_BACKOFF_MAX_SECONDS * 1000,
        idleMs: IDLE_MS,
        now,
        log,
        onResult: (endpoint, result) => { app.metrics.webhookDeliveries.inc({ endpoint, result }) },
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
    app.fileReloads.watch('webhooks', [config.WEBHOOKS_FILE], ([source]) => {
      const problems: string[] = []
      const next = parseSubscriptions(source as string, problems)
      if (problems.length > 0) throw new ReloadRefused(problems.join('; '))
      trust(next)
      const before = new Set(subscriptions.names)
      subscriptions.replace(next)
      log.info({ endpoints: next.length, added: next.filter((s) => !before.has(s.name)).map((s) => s.name), removed: [...before].filter((name) => subscriptions.get(name) === undefined) }, 'webhook subscriptions reloaded')
      // Never rejects: a deliverer's loop keeps its own errors.
      reconcile()
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
