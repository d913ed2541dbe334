import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MemoryFeed } from '../changes/feed.ts'
import { KeepFresh } from '../changes/keep-fresh.ts'
import { ChangeTracker } from '../changes/tracker.ts'
import { secondsToMs } from '../clock.ts'
import type { Config } from '../config.ts'
import type { ChangeEventData } from '../schemas/events.ts'
import { SubscriptionRegistry } from '../webhooks/registry.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * What changed between profile fetches, and who is told: the tracker the cache reports every load to, the
     * feed subscribers follow, the webhook subscriptions, and the loop keeping the profile fresh while anyone
     * listens.
     */
    changes: { tracker: ChangeTracker, feed: MemoryFeed<ChangeEventData>, subscriptions: SubscriptionRegistry, keepFresh: KeepFresh }
  }
}

export interface ChangesPluginOptions {
  config: Pick<Config, 'EVENTS_HISTORY' | 'balanceThresholds' | 'webhooks' | 'BALANCE_TTL_SECONDS'>
  now: () => number
}

/** The change detector on the one profile fetch, the feed of the last EVENTS_HISTORY changes, and who listens. */
async function changes (app: FastifyInstance, { config, now }: ChangesPluginOptions): Promise<void> {
  const feed = new MemoryFeed<ChangeEventData>({ capacity: config.EVENTS_HISTORY, now })
  const tracker = new ChangeTracker({ feed, thresholds: config.balanceThresholds, onChange: (cls) => { app.metrics.changeEvents.inc({ class: cls }) } })
  // Refreshes through the profile cache (registered next): one fetch per balance period at most, single-flight.
  const keepFresh = new KeepFresh({ refresh: async () => await app.profiles.get('balance'), periodMs: secondsToMs(config.BALANCE_TTL_SECONDS) })
  app.decorate('changes', { tracker, feed, subscriptions: new SubscriptionRegistry(config.webhooks), keepFresh })
}

export default fp(changes, { name: 'changes', fastify: '5.x', dependencies: ['metrics'] })
