import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { ChangeClass } from '../changes/detector.ts'
import type { Feed } from '../changes/feed.ts'
import { MemoryFeed } from '../changes/feed.ts'
import { KeepFresh } from '../changes/keep-fresh.ts'
import { ChangeTracker, type Observed } from '../changes/tracker.ts'
import { secondsToMs } from '../clock.ts'
import type { Config } from '../config.ts'
import type { ChangeEventData } from '../schemas/events.ts'
import { DropEpisodes } from '../webhooks/queue.ts'
import { SubscriptionRegistry } from '../webhooks/registry.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * What changed between profile fetches, and who is told: the tracker the cache reports every load to, the
     * feed subscribers follow, the webhook subscriptions, and the loop keeping the profile fresh while anyone
     * listens.
     */
    changes: {
      tracker: Pick<ChangeTracker, 'observe' | 'latest'>
      feed: Feed<ChangeEventData>
      subscriptions: SubscriptionRegistry
      keepFresh: KeepFresh
      /** Where full webhook queues report their drops (the fleet's publish fills the queues in Redis). */
      webhookDrops: DropEpisodes
      /**
       * Calls `listener` with this process's first fetch, the baseline, without Redis: what changed before it
       * is unknown. With Redis never: the baseline is the fleet's, and outlives a replica.
       */
      onBaseline: (listener: (observed: Observed) => void) => void
    }
  }
}

export interface ChangesPluginOptions {
  config: Config
  now: () => number
}

/**
 * The change detector on the one profile fetch, the feed of the last EVENTS_HISTORY changes, and who listens.
 * One replica: this process's tracker and feed. With REDIS_URL: the fleet's stream (src/redis/change-stream.ts),
 * so that each change is published once and its id is the same on every replica, and a poller lease.
 */
async function changes (app: FastifyInstance, { config, now }: ChangesPluginOptions): Promise<void> {
  const subscriptions = new SubscriptionRegistry(config.webhooks)
  const onChange = (cls: ChangeClass): void => { app.metrics.changeEvents.inc({ class: cls }) }
  const periodMs = secondsToMs(config.BALANCE_TTL_SECONDS)
  // Refreshes through the profile cache (registered next): one fetch per balance period at most, single-flight.
  const refresh = async (): Promise<unknown> => await app.profiles.get('balance')
  const { fleet } = app
  const webhookDrops = new DropEpisodes(app.metrics, app.log.child({ component: 'webhooks' }))
  if (fleet === null) {
    const feed = new MemoryFeed<ChangeEventData>({ capacity: config.EVENTS_HISTORY, now })
    const baselineListeners: Array<(observed: Observed) => void> = []
    const onBaseline = (observed: Observed): void => { for (const listener of baselineListeners) listener(observed) }
    const tracker = new ChangeTracker({ feed, thresholds: config.balanceThresholds, onChange, onBaseline })
    app.decorate('changes', { tracker, feed, subscriptions, keepFresh: new KeepFresh({ refresh, periodMs }), webhookDrops, onBaseline: (listener) => { baselineListeners.push(listener) } })
    return
  }
  const [{ ChangeStream }, { Lease }, { webhookKey }] = await Promise.all([import('../redis/change-stream.ts'), import('../redis/lease.ts'), import('../redis/webhook-queue.ts')])
  const prefix = config.REDIS_KEY_PREFIX
  const stream = new ChangeStream({
    link: fleet.link,
    prefix,
    capacity: config.EVENTS_HISTORY,
    thresholds: config.balanceThresholds,
    endpoints: () => subscriptions.names,
    routes: (cls) => subscriptions.routes(cls),
    queueKey: (endpoint, part) => webhookKey(prefix, endpoint, part),
    queueMax: config.WEBHOOKS_QUEUE_MAX,
    onChange,
    drops: webhookDrops,
    log: app.log.child({ component: 'changes' }),
    now
  })
  // The poller's lease outlives two missed periods; without Redis every replica with listeners polls (its cache is local then too).
  const leadership = new Lease({ link: fleet.link, key: `${prefix}changes:poller`, ttlMs: 3 * periodMs, token: fleet.token, withoutRedis: true })
  app.decorate('changes', { tracker: stream, feed: stream, subscriptions, keepFresh: new KeepFresh({ refresh, periodMs, leadership }), webhookDrops, onBaseline: () => {} })
  app.addHook('onReady', async () => { stream.start() })
  app.addHook('onClose', async () => { await stream.stop() })
}

export default fp(changes, { name: 'changes', fastify: '5.x', dependencies: ['metrics', 'fleet'] })
