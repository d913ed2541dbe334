import t, { type Test } from 'tap'
import { ChangeStream } from '../../src/redis/change-stream.ts'
import { Lease } from '../../src/redis/lease.ts'
import { RedisLink } from '../../src/redis/link.ts'
import { RedisWebhookQueue, webhookKey } from '../../src/redis/webhook-queue.ts'
import { PROFILE_EXAMPLE, type Profile } from '../../src/schemas/profile.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { until } from '../helpers/time.ts'

// The fleet's change stream, webhook queues and leases against a real redis-server, one part at a time.
const skip = redisUnavailable()
const silent = { debug () {}, info () {}, warn () {}, error () {} }

/** A generous deadline by default: a busy machine must not turn a slow reply into a failure here. */
async function link (t: Test, url: string, timeoutMs = 5000): Promise<RedisLink> {
  const redisLink = new RedisLink({ url, timeoutMs, logger: silent })
  await redisLink.connect(5000)
  t.teardown(async () => { await redisLink.close() })
  return redisLink
}

const profile = (fields: Partial<Profile>): Profile => ({ ...PROFILE_EXAMPLE, ...fields })

function stream (t: Test, redisLink: RedisLink, prefix: string, counted: string[] = [], dropped: string[] = [], start = true): ChangeStream {
  const changes = new ChangeStream({
    link: redisLink,
    prefix,
    capacity: 10,
    thresholds: [],
    endpoints: () => ['ledger'],
    routes: (cls) => cls === 'balance' ? ['ledger'] : [],
    queueKey: (endpoint, part) => webhookKey(prefix, endpoint, part),
    queueMax: 2,
    onChange: (cls) => { counted.push(cls) },
    drops: { dropped: (endpoint) => { dropped.push(endpoint) }, room: () => {} },
    log: silent,
    now: Date.now
  })
  if (start) changes.start()
  t.teardown(async () => { await changes.stop() })
  return changes
}

t.test('two replicas publishing at once: the second reads the moved baseline again, each change is published once', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const shared = await link(t, redis.url)
  const counted: string[] = []
  const dropped: string[] = []
  const a = stream(t, shared, prefix, counted, dropped)
  const b = stream(t, shared, prefix, counted)
  // A replica whose reader connects only after changes were published still tells its listeners of them.
  const late = stream(t, shared, prefix, counted, [], false)
  const heard: string[] = []
  const heardLate: string[] = []
  b.subscribe((event) => heard.push(`${event.class}:${(event.data as { balance: number }).balance}`))
  late.subscribe((event) => heardLate.push(`${event.class}:${(event.data as { balance: number }).balance}`))
  a.observe(profile({ balance: 100 }), 1000)
  await until('the baseline', async () => await redis.client.exists(`${prefix}changes:baseline`) === 1)
  // On one connection, both read the baseline before either writes: b's write finds it moved by a's.
  a.observe(profile({ balance: 200 }), 2000)
  b.observe(profile({ balance: 300 }), 3000)
  await until('both changes heard', () => heard.length === 2)
  t.same(heard, ['balance:200', 'balance:300'], 'each compared with the one before it')
  t.same(counted, ['balance', 'balance'], 'each published once')
  late.start()
  await until('the late reader to catch up', () => heardLate.length === 2)
  t.same(heardLate, heard)
  b.observe(profile({ balance: 250 }), 2500)
  a.observe(profile({ balance: 250 }), 2500)

  // A record another version wrote, which this one cannot read, is skipped.
  await redis.client.xadd(`${prefix}changes:stream`, '*', 'c', '{not json')
  a.observe(profile({ balance: 400 }), 4000)
  await until('the next change', () => heard.length === 3)
  t.equal(heard[2], 'balance:400')
  t.equal(await redis.client.xlen(webhookKey(prefix, 'ledger')), 3, 'the newest balance changes, at most WEBHOOKS_QUEUE_MAX, and a snapshot after them')
  t.same(dropped, ['ledger'], 'the third dropped the oldest (and the start-up snapshot before it, uncounted), and said so')
  const queued = (await redis.client.xrange(webhookKey(prefix, 'ledger'), '-', '+')).map(([, fields]) => JSON.parse(fields[1] as string))
  const published = (await redis.client.xrange(`${prefix}changes:stream`, '-', '+')).map(([id]) => id)
  t.same(queued.map((d) => d.id ?? d.class), [published[1], published[3], 'snapshot'], 'the queue keeps the newest, with the stream\'s ids (not the unreadable record)')
  t.match(queued[2], { class: 'snapshot', data: { balance: { balance: 400 }, profile: { balance: 400 } } }, 'the state after the last change')
  t.equal(counted.length, 3, 'an older fetch reported late publishes nothing')
})

t.test('queue state and leases live in Redis; a lease cannot be taken while Redis does not answer', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const quick = await link(t, redis.url, 200)
  const queue = new RedisWebhookQueue({ link: quick, prefix, token: 'a', leaseMs: 5000 })
  const other = new RedisWebhookQueue({ link: quick, prefix, token: 'b', leaseMs: 5000 })
  t.ok(await queue.lead('ledger'))
  t.notOk(await other.lead('ledger'), 'one deliverer per endpoint')
  await queue.setState('ledger', { failures: 3, nextAttemptAt: 42 })
  t.same(await other.state('ledger'), { failures: 3, nextAttemptAt: 42 }, 'the backoff is the fleet\'s')
  await queue.setState('ledger', { failures: 0, nextAttemptAt: 0 })
  t.equal(await redis.client.exists(webhookKey(prefix, 'ledger', 'state')), 0, 'a healthy endpoint keeps no state')
  t.same(await queue.stats('ledger'), { depth: 0, oldestAt: undefined })
  await queue.resign('ledger')
  t.ok(await other.lead('ledger'), 'handed over')

  const poller = new Lease({ link: quick, key: `${prefix}poller`, ttlMs: 5000, token: 'p', withoutRedis: true })
  redis.pause()
  t.ok(await poller.lead(), 'Redis not answering: a poller carries on alone (its cache is local then too)')
  t.notOk(await other.lead('ledger'), 'but no deliverer: nobody could tell it is the only one')
  redis.resume()
  await until('the link back', () => quick.usable)
  await poller.resign()
  await redis.kill()
  await until('the link down', () => !quick.usable)
  t.ok(await poller.lead(), 'Redis gone: the poller carries on alone, without asking')
  t.notOk(await other.lead('ledger'))
  await poller.resign()
})

const snapshotOf = (balance: number) => ({ data: { balance: { partner_id: 'p', balance, as_of: '2026-01-01T00:00:00.000Z' } }, detectedAt: balance })

t.test('the Redis queue: a change carries its feed id, one snapshot at most, removed and cleared; a disabled endpoint is queued nothing', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const shared = await link(t, redis.url)
  const queue = new RedisWebhookQueue({ link: shared, prefix, token: 'a', leaseMs: 5000 })
  const changes = stream(t, shared, prefix)
  const depth = async () => (await queue.stats('ledger')).depth
  // No baseline in Redis: the first fetch queues a snapshot to every endpoint.
  changes.observe(profile({ balance: 1 }), 1000)
  await until('the start-up snapshot', async () => await depth() === 1)
  const snapshot = await queue.head('ledger')
  t.match(snapshot, { class: 'snapshot', data: { balance: { balance: 1 } }, detectedAt: 1000 })
  await queue.resync('ledger', snapshotOf(2))
  t.equal(await depth(), 1, 'one snapshot at most')
  await queue.remove('ledger', 'not-the-head')
  t.equal(await depth(), 1, 'only the head is removed')
  await queue.remove('ledger', snapshot?.id ?? '')
  t.equal(await redis.client.exists(webhookKey(prefix, 'ledger', 'snapshot')), 0, 'a delivered snapshot is no longer the queued one')
  await queue.remove('ledger', 'empty')
  changes.observe(profile({ balance: 2 }), 2000)
  await until('the change queued', async () => await depth() === 1)
  const published = (await redis.client.xrange(`${prefix}changes:stream`, '-', '+'))[0]?.[0]
  t.match(await queue.head('ledger'), { id: published, class: 'balance' }, 'the feed\'s id: its webhook-id is the SSE event id')
  await queue.resync('ledger', snapshotOf(3))
  t.equal(await depth(), 2, 'a snapshot after it')
  await queue.clear('ledger')
  t.same(await queue.stats('ledger'), { depth: 0, oldestAt: undefined })
  await queue.resync('ledger', snapshotOf(4))
  t.equal(await depth(), 1, 'cleared with the queue: a new snapshot can be queued')

  await queue.clear('ledger')
  const disabled = { failures: 0, nextAttemptAt: 0, disabled: { at: 5, entry: 'digest' } }
  await queue.setState('ledger', disabled)
  t.same(await queue.state('ledger'), disabled, 'kept in Redis, across restarts')
  changes.observe(profile({ balance: 5 }), 5000)
  await until('the change published', async () => await redis.client.xlen(`${prefix}changes:stream`) === 2)
  t.equal(await depth(), 0, 'a disabled endpoint is queued nothing')
  await queue.setState('ledger', { failures: 0, nextAttemptAt: 0 })
  t.equal(await redis.client.exists(webhookKey(prefix, 'ledger', 'state')), 0)

  // A queued snapshot whose entry is gone does not block the next; an entry of an earlier version is known by its entry id.
  await redis.client.set(webhookKey(prefix, 'ledger', 'snapshot'), '1-1')
  await queue.resync('ledger', snapshotOf(6))
  t.equal(await depth(), 1)
  await queue.clear('ledger')
  const old = await redis.client.xadd(webhookKey(prefix, 'ledger'), '*', 'd', JSON.stringify({ class: 'balance', data: {}, detectedAt: 7 }))
  t.match(await queue.head('ledger'), { id: old, class: 'balance' })
  await queue.remove('ledger', old ?? '')
  t.equal(await depth(), 0)
})
