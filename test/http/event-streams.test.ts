import t from 'tap'
import { ALL_END_REASONS, defaultMaxStreams, END_DETAIL, EventStreams, STREAM_BUDGET_BYTES } from '../../src/http/event-streams.ts'
import type { Caller } from '../../src/http/identity.ts'

const caller = (name: string): Caller => ({ kind: 'api-key', name, scopes: ['profile:read'], limit: 60, rateKey: `consumer:${name}`, policy: '"default"', policyHeader: '"default";q=60;w=60' })

t.test('EVENTS_MAX_STREAMS by default: a third of the heap limit at the per-stream budget; bounded without one', async (t) => {
  t.equal(defaultMaxStreams(256 * 1024 * 1024), 5461, 'the default MAX_HEAP_USED_BYTES')
  t.equal(defaultMaxStreams(3 * STREAM_BUDGET_BYTES * 100), 100)
  t.equal(defaultMaxStreams(1), 1, 'at least one')
  t.equal(defaultMaxStreams(0), 10_000, 'heap shedding off: still a bound')
})

t.test('the total cap comes first (503), then the caller\'s (429); every count is given back', async (t) => {
  const streams = new EventStreams({ maxStreams: 3, maxPerCaller: 2 })
  const ended: string[] = []
  const open = (name: string) => streams.add({ identity: caller(name), reidentify: () => caller(name), end: (reason) => { ended.push(`${name}:${reason}`) } })
  const removeA1 = open('a')
  open('a')
  t.match(streams.refusal(caller('a')), { code: 'rate_limited', headers: { 'retry-after': '5' } })
  t.equal(streams.refusal(caller('b')), undefined)
  open('b')
  t.match(streams.refusal(caller('c')), { code: 'service_unavailable', headers: { 'retry-after': '30' } })
  t.equal(streams.size, 3)
  removeA1()
  t.equal(streams.of('consumer:a'), 1)
  t.equal(streams.refusal(caller('c')), undefined)
  const review = streams.review(({ identity }) => identity.name === 'a' ? 'revoked' : undefined)
  t.same(review, { ended: { revoked: 1 }, callers: ['a'] })
  t.same(ended, ['a:revoked'], 'ended through its own end, which uncounts it when the stream closes')
})

t.test('what a refused or ended stream is told, word for word', async (t) => {
  t.same(ALL_END_REASONS, ['client', 'shutdown', 'slow', 'revoked', 'scope_reduced', 'expired'], 'every reason has its series')
  t.same(END_DETAIL, {
    shutdown: 'This replica is shutting down: reconnect (with Last-Event-ID) to resume.',
    slow: 'This stream was not read fast enough (EVENTS_MAX_BUFFERED_BYTES unread): reconnect (with Last-Event-ID) to resume.',
    revoked: 'The credential this stream was opened with is no longer accepted, or no longer for the same consumer.',
    scope_reduced: 'The credential this stream was opened with no longer grants profile:read: reconnect for the events it now allows.',
    expired: 'The bearer token this stream was opened with has expired: reconnect with a new one.'
  })
  const streams = new EventStreams({ maxStreams: 2, maxPerCaller: 1 })
  streams.add({ identity: caller('a'), reidentify: () => caller('a'), end: () => {} })
  t.match(streams.refusal(caller('a')), { message: 'This caller already has 1 open event streams (EVENTS_MAX_STREAMS_PER_CALLER); close one first.' })
  streams.add({ identity: caller('b'), reidentify: () => caller('b'), end: () => {} })
  t.match(streams.refusal(caller('c')), { message: 'This replica holds its maximum of 2 event streams (EVENTS_MAX_STREAMS); retry later, or on another replica.' })
})

t.test('a caller whose last stream closed holds nothing', async (t) => {
  const streams = new EventStreams({ maxStreams: 10, maxPerCaller: 5 })
  const closes = Array.from({ length: 3 }, () => streams.add({ identity: caller('a'), reidentify: () => caller('a'), end: () => {} }))
  t.equal(streams.callers, 1)
  for (const close of closes) close()
  t.equal(streams.callers, 0, 'no entry left behind')
  t.equal(streams.of('consumer:a'), 0)
})
