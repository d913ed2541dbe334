import t from 'tap'
import { FreshnessCache, type LoadRequest, type Via } from '../../src/cache/freshness-cache.ts'

function counting (options: { delayMs?: number, fail?: () => boolean, confirmForMs?: number, via?: () => Via } = {}) {
  let loads = 0
  let clock = 1_000_000
  const cache = new FreshnessCache<number, 'slow' | 'fast'>({
    freshness: {
      slow: { ttlMs: 30_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 },
      fast: { ttlMs: 5_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }
    },
    now: () => clock,
    staleDetail: () => 'stale-if-error',
    onBackgroundError: () => {},
    ...(options.confirmForMs === undefined ? {} : { confirmForMs: options.confirmForMs }),
    source: {
      load: async (_signal, request) => {
        requests.push(request)
        const via = options.via?.() ?? 'upstream'
        if (via === 'cache' && request.current !== undefined) return { ...request.current, via }
        loads += 1
        const n = loads
        const fetchedAt = clock
        if (options.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
        if (options.fail?.() === true) throw new Error(`load ${n} failed`)
        return { value: n, fetchedAt, via }
      }
    }
  })
  const requests: Array<LoadRequest<number>> = []
  return { cache, loads: () => loads, requests, advance: (ms: number) => { clock += ms } }
}

t.test('a cold get loads once; concurrent gets join it and say so', async (t) => {
  const { cache, loads } = counting({ delayMs: 20 })
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => cache.get(i % 2 === 0 ? 'slow' : 'fast')))
  t.equal(loads(), 1)
  t.same(results[0]?.outcome, { kind: 'fetched', fwd: 'miss', collapsed: false })
  t.ok(results.slice(1).every((r) => r.outcome.kind === 'fetched' && r.outcome.collapsed && r.outcome.fwd === 'miss'))
  t.ok(results.every((r) => r.entry.value === 1 && r.entry.fetchedAt === 1_000_000))
})

t.test('freshness is judged per class', async (t) => {
  const { cache, loads, advance } = counting()
  await cache.get('slow')
  advance(4_999)
  t.same((await cache.get('fast')).outcome, { kind: 'hit' })
  t.equal(cache.fresh('fast')?.value, 1)
  advance(1)
  t.equal(cache.fresh('fast'), undefined, 'fast expires at exactly its freshness')
  t.same((await cache.get('slow')).outcome, { kind: 'hit' }, 'slow is still fresh')
  const refetched = await cache.get('fast')
  t.same(refetched.outcome, { kind: 'fetched', fwd: 'stale', collapsed: false })
  t.equal(refetched.entry.value, 2)
  t.equal(loads(), 2)
  t.equal(cache.freshness('slow').ttlMs, 30_000)
})

t.test('refresh always loads, and a failed load keeps the previous entry', async (t) => {
  let failing = false
  const { cache, loads, advance } = counting({ fail: () => failing })
  await cache.get('slow')
  const refreshed = await cache.get('slow', { refresh: true })
  t.same(refreshed.outcome, { kind: 'fetched', fwd: 'request', collapsed: false })
  t.equal(refreshed.entry.value, 2)
  failing = true
  const failed = await cache.get('slow', { refresh: true })
  t.same(failed.outcome, { kind: 'hit', detail: 'refresh-failed' }, 'a failed refresh falls back on the still-fresh copy, saying so')
  t.equal(failed.entry.value, 2)
  t.equal(cache.fresh('slow')?.value, 2, 'the previous entry survives the failure')
  advance(30_000)
  await t.rejects(cache.get('slow'), /load 4 failed/, 'past its windows, the error')
  t.equal(loads(), 4)
})

t.test('clear aborts a fetch in flight and empties the cache', async (t) => {
  const { cache } = counting({ delayMs: 50 })
  const pending = cache.get('slow')
  cache.clear()
  await t.rejects(pending)
  t.equal(cache.fresh('slow'), undefined)
})

t.test('in front of a shared cache: a fresh entry is re-confirmed through load after confirmForMs', async (t) => {
  let via: Via = 'upstream'
  const { cache, loads, requests, advance } = counting({ confirmForMs: 1_000, via: () => via })
  await cache.get('slow')
  advance(999)
  t.equal(cache.fresh('slow')?.value, 1, 'confirmed less than confirmForMs ago: a hit')
  advance(1)
  t.equal(cache.fresh('slow'), undefined, 'not confirmed for confirmForMs: not a synchronous hit')
  via = 'cache'
  const confirmed = await cache.get('slow')
  t.same(confirmed.outcome, { kind: 'hit' }, 'the load found the same (or newer) data stored: still a hit')
  t.equal(loads(), 1, 'nothing fetched')
  t.same(requests.at(-1)?.notBefore, 1_000_000 + 1_000 - 30_000, 'the load may answer with anything still fresh for the class')
  t.equal(requests.at(-1)?.current?.value, 1, 'the load sees the current entry')
  t.equal(cache.fresh('slow')?.value, 1, 're-confirmed: a hit again')

  via = 'fleet'
  const refreshed = await cache.get('slow', { refresh: true })
  t.same(refreshed.outcome, { kind: 'fetched', fwd: 'request', collapsed: true }, 'data another replica fetched counts as collapsed')
  t.equal(requests.at(-1)?.notBefore, 1_000_000 + 1_000, 'a refresh needs data fetched after it arrived')
})

t.test('a caller that joins a load started for an older need loads again', async (t) => {
  const { cache, loads, requests, advance } = counting({ delayMs: 20 })
  const cold = cache.get('slow')
  advance(1)
  // Arrives 1 ms after the cold load started: that load's data may predate this request.
  const refresh = cache.get('slow', { refresh: true })
  const [a, b] = await Promise.all([cold, refresh])
  t.equal(a.entry.value, 1)
  t.equal(b.entry.value, 2, 'the refresh took part in a second load')
  t.same(b.outcome, { kind: 'fetched', fwd: 'request', collapsed: false })
  t.equal(loads(), 2)
  t.same(requests.map((r) => r.notBefore), [1_000_000 - 30_000, 1_000_001])
})
