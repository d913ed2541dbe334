import { getHeapStatistics } from 'node:v8'
import t from 'tap'
import { fullCollection, liveHeapWithin } from '../../src/observability/live-heap.ts'

t.test('over the limit, one full collection decides; while live data is over, at most one per recheck period; each change of verdict told once', async (t) => {
  let heap = 10
  let live = 10
  let at = 0
  let collections = 0
  const changes: Array<[boolean, number]> = []
  const within = liveHeapWithin({
    limit: 100,
    recheckMs: 1000,
    now: () => at,
    used: () => heap,
    collect: () => { collections++; heap = live },
    onChange: (over, used) => { changes.push([over, used]) }
  })
  t.equal(within(), true, 'under the limit')
  t.equal(collections, 0, 'nothing collected under the limit')

  heap = 300
  live = 40
  t.equal(within(), true, 'over the limit with garbage only: within, once collected')
  t.equal(collections, 1)
  t.equal(heap, 40, 'the garbage went with the collection')
  heap = 300
  at += 10
  t.equal(within(), true, 'more garbage, soon after: collected at once, not left to grow')
  t.equal(collections, 2)

  heap = 300
  live = 200
  at += 10
  t.equal(within(), false, 'live data over the limit')
  t.equal(collections, 3)
  heap = 250
  at += 500
  t.equal(within(), false, 'still over within the recheck period: the verdict stands, nothing collected')
  t.equal(collections, 3)
  at += 500
  t.equal(within(), false, 'after it: collected again, and still over')
  t.equal(collections, 4)

  live = 30
  heap = 300
  at += 1000
  t.equal(within(), true, 'the load is gone: the next collection finds the heap within the limit')
  t.same(changes, [[true, 200], [false, 30]], 'told when it went over and when it came back')
})

t.test('back under the limit without a collection (V8 collected by itself): within at once', async (t) => {
  let heap = 300
  const changes: boolean[] = []
  const within = liveHeapWithin({ limit: 100, recheckMs: 1000, now: () => 0, used: () => heap, collect: () => {}, onChange: (over) => { changes.push(over) } })
  t.equal(within(), false)
  heap = 50
  t.equal(within(), true)
  t.same(changes, [true, false])
})

t.test('the real collection: V8\'s full gc, from a process started without --expose-gc, which stays unexposed', async (t) => {
  const within = liveHeapWithin({ limit: 1, recheckMs: 60_000 })
  t.equal(within(), false, 'no heap is within one byte')
  const collect = fullCollection()
  let garbage: Array<{ i: number }> | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i }))
  const withIt = getHeapStatistics().used_heap_size
  t.equal(garbage.length, 200_000)
  garbage = undefined
  collect()
  t.ok(getHeapStatistics().used_heap_size < withIt, 'what was let go is collected')
  t.equal((globalThis as { gc?: unknown }).gc, undefined, 'gc is not left on the global object')
})

t.test('a process started with --expose-gc: its gc is used', async (t) => {
  const exposed = (): void => {}
  const global = globalThis as { gc?: () => void }
  global.gc = exposed
  t.teardown(() => { delete global.gc })
  t.equal(fullCollection(), exposed)
})
