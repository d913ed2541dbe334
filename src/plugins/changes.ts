import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { MemoryFeed } from '../changes/feed.ts'
import { ChangeTracker } from '../changes/tracker.ts'
import type { Config } from '../config.ts'
import type { ChangeEventData } from '../schemas/events.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** What changed between profile fetches: the tracker the cache reports every load to, and the feed subscribers follow. */
    changes: { tracker: ChangeTracker, feed: MemoryFeed<ChangeEventData> }
  }
}

export interface ChangesPluginOptions {
  config: Pick<Config, 'EVENTS_HISTORY' | 'balanceThresholds'>
  now: () => number
}

/** The change detector on the one profile fetch, and the feed of the last EVENTS_HISTORY changes. */
async function changes (app: FastifyInstance, { config, now }: ChangesPluginOptions): Promise<void> {
  const feed = new MemoryFeed<ChangeEventData>({ capacity: config.EVENTS_HISTORY, now })
  const tracker = new ChangeTracker({ feed, thresholds: config.balanceThresholds, onChange: (cls) => { app.metrics.changeEvents.inc({ class: cls }) } })
  app.decorate('changes', { tracker, feed })
}

export default fp(changes, { name: 'changes', fastify: '5.x', dependencies: ['metrics'] })
