import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { FreshnessCache } from '../cache/freshness-cache.ts'
import type { Config } from '../config.ts'
import { freshnessPolicy, longestUse } from '../freshness-policy.ts'
import type { ProfileSnapshot, View } from '../profile-snapshot.ts'
import { fleetSource, observed, upstreamSource } from '../profile-source.ts'
import { UpstreamError } from '../vobiz/errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The profile cache: one entry served to both views, each by its own freshness. */
    profiles: FreshnessCache<ProfileSnapshot, View>
  }
}

export interface ProfilesPluginOptions {
  config: Config
  now: () => number
}

/**
 * The cache in front of its source: this replica's own Vobiz fetch, or with REDIS_URL the fleet's shared
 * copy (whose lock holder fetches through this replica's upstream). Route → cache → source → upstream.
 */
async function profiles (app: FastifyInstance, { config, now }: ProfilesPluginOptions): Promise<void> {
  const freshness = freshnessPolicy(config)
  const fetch = app.upstream.fetch.bind(app.upstream)
  const cache = new FreshnessCache<ProfileSnapshot, View>({
    freshness,
    // Every load is compared with the one before (src/changes/): what changed is published to subscribers.
    source: observed(app.fleet === null ? upstreamSource(fetch, now) : fleetSource(app.fleet.sharedProfiles(fetch, longestUse(freshness))),
      (loaded) => { app.changes.tracker.observe(loaded.value.profile, loaded.fetchedAt) }),
    // In front of a shared cache, a copy is served for CACHE_L1_TTL_MS before the shared one is checked.
    ...(app.fleet === null ? {} : { confirmForMs: config.CACHE_L1_TTL_MS }),
    // A short circuit (open breaker, 429 cool-down) never went forward; anything else did, and failed.
    staleDetail: (error) => error instanceof UpstreamError && error.shortCircuit !== undefined ? error.shortCircuit : 'stale-if-error',
    // Already logged by the upstream; the stale entry keeps serving.
    onBackgroundError: () => {},
    now
  })
  app.metrics.watch({
    profile: () => {
      const entry = cache.peek()
      return entry === undefined ? undefined : { ...entry.value.profile, fetchedAt: entry.fetchedAt, ageMs: now() - entry.fetchedAt }
    }
  })
  app.decorate('profiles', cache)
  app.addHook('onClose', async () => { cache.clear() })
}

export default fp(profiles, { name: 'profiles', fastify: '5.x', dependencies: ['metrics', 'upstream', 'fleet', 'changes'] })
