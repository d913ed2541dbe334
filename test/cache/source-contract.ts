import type { Test } from 'tap'
import type { FetchProfile, ProfileSource } from '../../src/profile-source.ts'
import { PROFILE_EXAMPLE, type Profile } from '../../src/schemas/profile.ts'
import { UpstreamError } from '../../src/vobiz/errors.ts'

/** Vobiz as a source sees it: a fetch function, counted, that can fail or wait for its signal. */
export class FakeVobiz {
  fetches = 0
  /** The next fetches fail with this, when set. */
  failure: UpstreamError | undefined
  /** The next fetches wait until their signal aborts. */
  hang = false
  #n = 0

  readonly fetch: FetchProfile = async (signal) => {
    this.fetches += 1
    if (this.hang) {
      if (!signal.aborted) await new Promise((resolve) => { signal.addEventListener('abort', resolve, { once: true }) })
      throw new UpstreamError('upstream_timeout', 'aborted')
    }
    if (this.failure !== undefined) throw this.failure
    this.#n += 1
    return { ...PROFILE_EXAMPLE, name: `fetch ${this.#n}` } satisfies Profile
  }
}

export interface SourceUnderTest {
  source: ProfileSource
  vobiz: FakeVobiz
  /** The source's clock. */
  now: () => number
  advance: (ms: number) => void
}

/**
 * The ProfileSource contract (src/cache/freshness-cache.ts, `Source`), run against every implementation:
 * `make` builds a fresh source (and whatever it needs) for one subtest.
 */
export function sourceContract (t: Test, make: (t: Test) => Promise<SourceUnderTest>): void {
  const never = new AbortController().signal

  t.test('a load with nothing cached fetches once and says so; both views are the fetched profile', async (t) => {
    const { source, vobiz, now } = await make(t)
    const notBefore = now()
    const loaded = await source.load(never, { notBefore, requestId: 'r1', current: undefined })
    t.equal(vobiz.fetches, 1)
    t.equal(loaded.via, 'upstream')
    t.ok(loaded.fetchedAt >= notBefore, 'fetched at or after notBefore')
    t.equal(loaded.value.profile.name, 'fetch 1')
    t.same(JSON.parse(loaded.value.views.profile.body.toString()), loaded.value.profile)
    t.match(JSON.parse(loaded.value.views.balance.body.toString()), { partner_id: PROFILE_EXAMPLE.id, balance: PROFILE_EXAMPLE.balance, as_of: new Date(loaded.fetchedAt).toISOString() })
    t.match(loaded.value.views.profile.etag, /^"[\w-]{27}"$/)
  })

  t.test('never anything older than notBefore; a copy recent enough may be answered as it is', async (t) => {
    const { source, vobiz, now, advance } = await make(t)
    const first = await source.load(never, { notBefore: now(), requestId: undefined, current: undefined })
    advance(1000)
    const again = await source.load(never, { notBefore: first.fetchedAt, requestId: undefined, current: { ...first, checkedAt: now() } })
    t.ok(again.fetchedAt >= first.fetchedAt)
    if (again.via === 'cache') t.equal(again.value.profile.name, first.value.profile.name, 'a copy answered as it is')
    const notBefore = now()
    const newer = await source.load(never, { notBefore, requestId: undefined, current: { ...first, checkedAt: now() } })
    t.ok(newer.fetchedAt >= notBefore, 'data fetched at or after notBefore')
    t.equal(newer.via, 'upstream')
    t.not(newer.value.profile.name, first.value.profile.name, 'from a new fetch')
    t.ok(vobiz.fetches >= 2)
  })

  t.test('a failed fetch rejects with the upstream\'s own UpstreamError', async (t) => {
    const { source, vobiz, now } = await make(t)
    vobiz.failure = new UpstreamError('upstream_auth_failed', 'vobiz answered 401', { upstreamStatus: 401 })
    await t.rejects(source.load(never, { notBefore: now(), requestId: undefined, current: undefined }), { name: 'UpstreamError', code: 'upstream_auth_failed', upstreamStatus: 401 })
  })

  t.test('an aborted signal ends a load in flight', async (t) => {
    const { source, vobiz, now } = await make(t)
    vobiz.hang = true
    const controller = new AbortController()
    const loading = source.load(controller.signal, { notBefore: now(), requestId: undefined, current: undefined })
    await new Promise((resolve) => setImmediate(resolve))
    controller.abort()
    await t.rejects(loading)
  })
}
