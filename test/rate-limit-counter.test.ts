import t from 'tap'
import { MemoryCounterStore, type Count } from '../src/rate-limit-counter.ts'

t.test('a fixed window per key: counts up, says what is left, starts again when it ends; the LRU forgets the oldest key', async (t) => {
  let now = 1_000_000
  const store = new MemoryCounterStore(2, () => now)
  const step = (key: string): Count => {
    let result: Count | undefined
    store.incr(key, (err, count) => { t.equal(err, null); result = count }, 60_000)
    return result as Count
  }
  t.same(step('a'), { current: 1, ttl: 60_000 }, 'synchronous: the callback has run when incr returns')
  now += 20_000
  t.same(step('a'), { current: 2, ttl: 40_000 })
  now += 40_000
  t.same(step('a'), { current: 1, ttl: 60_000 }, 'the window ended: a new one starts')
  t.same(step('b'), { current: 1, ttl: 60_000 })
  t.same(step('a'), { current: 2, ttl: 60_000 })
  step('c')
  t.same(step('b'), { current: 1, ttl: 60_000 }, 'three keys in a store of two: the least recently counted was forgotten')
  t.same(step('a'), { current: 1, ttl: 60_000 }, '(and counting b again evicted a)')
})
