import t from 'tap'
import { isAfter, MemoryFeed, parseId } from '../../src/changes/feed.ts'

const change = (n: number) => ({ class: 'balance' as const, data: n })

t.test('ids order the changes, per fetch and within one, whatever the clock does', async (t) => {
  const feed = new MemoryFeed<number>({ capacity: 10, now: () => 1000 })
  t.equal(feed.lastId, '1000-0', 'a snapshot taken before any change is as of the feed\'s start')
  t.same(feed.append(2000, [change(1), change(2)]).map((e) => e.id), ['2000-0', '2000-1'])
  t.same(feed.append(3000, [change(3)]).map((e) => e.id), ['3000-0'])
  t.same(feed.append(2500, [change(4)]).map((e) => e.id), ['3000-1'], 'an older fetch reported late still comes after')
  t.equal(feed.lastId, '3000-1')
})

t.test('Last-Event-ID: the changes after it, or a snapshot when replay could not be complete', async (t) => {
  const feed = new MemoryFeed<number>({ capacity: 3, now: () => 1000 })
  const heard: string[] = []
  const stop = feed.subscribe((event) => heard.push(event.id))
  feed.append(2000, [change(1)])
  feed.append(3000, [change(2), change(3)])
  t.same(feed.since('1000-0'), { kind: 'events', events: [{ class: 'balance', data: 1, id: '2000-0', fetchedAt: 2000 }, { class: 'balance', data: 2, id: '3000-0', fetchedAt: 3000 }, { class: 'balance', data: 3, id: '3000-1', fetchedAt: 3000 }] }, 'from the start: all of them')
  t.same(feed.since('3000-0'), { kind: 'events', events: [{ class: 'balance', data: 3, id: '3000-1', fetchedAt: 3000 }] })
  t.same(feed.since('3000-1'), { kind: 'events', events: [] }, 'up to date: nothing')
  feed.append(4000, [change(4)])
  t.same(feed.since('2000-0').kind, 'events', 'the change right after the dropped one is still here')
  t.same(feed.since('1000-0'), { kind: 'snapshot' }, 'older than what is kept: a snapshot')
  t.same(feed.since('999-0'), { kind: 'snapshot' }, 'from before this feed (another process): a snapshot')
  t.same(feed.since('5000-0'), { kind: 'snapshot' }, 'an id this feed never issued: a snapshot')
  for (const bad of ['', 'abc', '3000', '3000-1-1', '-1-0', '1e3-0']) t.same(feed.since(bad), { kind: 'snapshot' }, `not an id: ${JSON.stringify(bad)}`)
  t.same(heard, ['2000-0', '3000-0', '3000-1', '4000-0'], 'subscribers hear each change once, in order')
  stop()
  feed.append(5000, [change(5)])
  t.equal(heard.length, 4, 'and nothing after they stop')
  t.same(parseId('12-3'), [12, 3])
})

t.test('ids issued elsewhere (the fleet\'s stream) are added in order; one not after the newest is ignored', async (t) => {
  const feed = new MemoryFeed<number>({ capacity: 10, now: () => 0, start: '5-0' })
  const heard: string[] = []
  feed.subscribe((event) => heard.push(event.id))
  feed.add([{ id: '6-0', class: 'balance', data: 1, fetchedAt: 6 }, { id: '5-9', class: 'balance', data: 2, fetchedAt: 5 }, { id: '6-0', class: 'balance', data: 3, fetchedAt: 6 }, { id: '7-1', class: 'billing', data: 4, fetchedAt: 7 }])
  t.same(heard, ['6-0', '7-1'])
  t.equal(feed.lastId, '7-1')
  t.same(feed.since('4-0'), { kind: 'snapshot' }, 'before the start it was given')
})

t.test('ids: `<ms>-<n>` exactly, compared as numbers', async (t) => {
  t.same(parseId('1700000000000-0'), [1700000000000, 0])
  t.same(parseId('1-12'), [1, 12], 'a sequence of two digits and more')
  t.same(parseId('999999999999999-999999999'), [999999999999999, 999999999], 'the longest of each part')
  for (const bad of ['x1-2', '1-2x', ' 1-2', '1-1234567890', '1234567890123456-0', '1-', '-1', '1', '', '1-2-3', '1.5-2']) {
    t.equal(parseId(bad), undefined, JSON.stringify(bad))
  }
  t.equal(isAfter('2-0', '1-5'), true, 'a later fetch')
  t.equal(isAfter('1-10', '1-9'), true, 'a later change of the same fetch: numbers, not text')
  t.equal(isAfter('1-5', '1-5'), false, 'not after itself')
  t.equal(isAfter('1-4', '1-5'), false)
  t.equal(isAfter('1-9', '2-0'), false)
})
