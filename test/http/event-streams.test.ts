import t from 'tap'
import { defaultMaxStreams, EventStreams, STREAM_BUDGET_BYTES } from '../../src/http/event-streams.ts'
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
