import type { Fetched, LoadRequest, Loaded, Source } from './cache/freshness-cache.ts'
import { buildSnapshot, type ProfileSnapshot } from './profile-snapshot.ts'
import type { Profile } from './schemas/profile.ts'

/**
 * Where the profile cache gets its snapshot (the Source contract in src/cache/freshness-cache.ts): this
 * replica's own Vobiz fetch (`upstreamSource`), or the fleet's shared copy in Redis (`fleetSource` over
 * src/redis/shared-cache.ts). Both pass the same contract test (test/cache/source-contract.ts).
 */
export type ProfileSource = Source<ProfileSnapshot>

/** Fetches a profile from Vobiz; rejects with an UpstreamError. */
export type FetchProfile = (signal: AbortSignal, requestId: string | undefined) => Promise<Profile>

/** A single replica: every load is one Vobiz fetch (the cache in front makes it one per freshness period). */
export function upstreamSource (fetch: FetchProfile, now: () => number): ProfileSource {
  return {
    async load (signal, { requestId }) {
      const fetchedAt = now()
      return { value: buildSnapshot(await fetch(signal, requestId), fetchedAt), fetchedAt, via: 'upstream' }
    }
  }
}

/** What the fleet's shared cache offers: profiles, fetched by whichever replica held the lock. */
export interface SharedProfiles {
  load: (signal: AbortSignal, request: Omit<LoadRequest<Profile>, 'current'> & { current: Fetched<Profile> | undefined }) => Promise<Loaded<Profile>>
}

/** Several replicas sharing Redis: the shared cache's profiles as snapshots, built once per new fetch. */
export function fleetSource (shared: SharedProfiles): ProfileSource {
  return {
    async load (signal, { notBefore, requestId, current }) {
      const loaded = await shared.load(signal, { notBefore, requestId, current: current === undefined ? undefined : { value: current.value.profile, fetchedAt: current.fetchedAt } })
      // Serialize again only for new data.
      const value = current?.fetchedAt === loaded.fetchedAt ? current.value : buildSnapshot(loaded.value, loaded.fetchedAt)
      return { ...loaded, value }
    }
  }
}

/** The same source, telling `observe` what each load produced (the change tracker compares fetches). */
export function observed (source: ProfileSource, observe: (loaded: Loaded<ProfileSnapshot>) => void): ProfileSource {
  return {
    async load (signal, request) {
      const loaded = await source.load(signal, request)
      observe(loaded)
      return loaded
    }
  }
}
