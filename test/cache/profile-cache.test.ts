import t from 'tap'
import { ProfileCache } from '../../src/cache/profile-cache.ts'

function counting (options: { delayMs?: number, fail?: () => boolean } = {}) {
  let loads = 0
  let clock = 1_000_000
  const cache = new ProfileCache<number, 'slow' | 'fast'>({
    freshness: {
      slow: { ttlMs: 30_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 },
      fast: { ttlMs: 5_000, staleWhileRevalidateMs: 0, staleIfErrorMs: 0 }
    },
    now: () => clock,
    staleDetail: () => 'stale-if-error',
    onBackgroundError: () => {},
    load: async () => {
      loads += 1
      const n = loads
      if (options.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.delayMs))
      if (options.fail?.() === true) throw new Error(`load ${n} failed`)
      return n
    }
  })
  return { cache, loads: () => loads, advance: (ms: number) => { clock += ms } }
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
