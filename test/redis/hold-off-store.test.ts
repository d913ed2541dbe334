import t, { type Test } from 'tap'
import { RedisLink } from '../../src/redis/link.ts'
import { SharedHoldOffStore } from '../../src/redis/hold-off-store.ts'
import { CLEAR } from '../../src/vobiz/hold-off.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { until } from '../helpers/time.ts'

// The fleet's breaker / cool-down state in a real redis-server; the rules are test/vobiz/hold-off.test.ts's.
const skip = redisUnavailable()
const silent = { debug () {}, info () {}, warn () {}, error () {} }

async function link (t: Test, url: string): Promise<RedisLink> {
  const redisLink = new RedisLink({ url, timeoutMs: 500, logger: silent })
  await redisLink.connect(5000)
  t.teardown(async () => { await redisLink.close() })
  return redisLink
}

t.test('replicas share one state; an idle state is no key at all', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const now = Date.now()
  const a = new SharedHoldOffStore(await link(t, redis.url), prefix, () => now)
  const b = new SharedHoldOffStore(await link(t, redis.url), prefix, () => now)
  t.same(await b.read(), CLEAR, 'nothing stored: closed, no cool-down')
  const open = { failures: 5, openUntil: now + 10_000, coolingDownUntil: 0 }
  await a.write(open)
  t.same(await b.read(), open)
  const ttl = await redis.client.pttl(`${prefix}profile:hold-off`)
  t.ok(ttl > 10_000, 'kept past its last deadline (the failure count is forgotten an hour later)')
  await b.write({ ...CLEAR })
  t.equal(await redis.client.exists(`${prefix}profile:hold-off`), 0)
  t.same(await a.read(), CLEAR)
})

t.test('a record this version cannot read counts as none; Redis refusing the read leaves the last state', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const redisLink = await link(t, redis.url)
  const store = new SharedHoldOffStore(redisLink, prefix, Date.now)
  await redis.client.set(`${prefix}profile:hold-off`, '{"breaker":"open"}')
  t.same(await store.read(), CLEAR)
  const cooling = { failures: 0, openUntil: 0, coolingDownUntil: Date.now() + 30_000 }
  await store.write(cooling)
  await redis.client.del(`${prefix}profile:hold-off`)
  await redis.client.hset(`${prefix}profile:hold-off`, 'x', '1')
  t.same(await store.read(), cooling, 'WRONGTYPE: the last state this replica knew')
  t.equal(redisLink.state, 'connected', 'a refused command is not an outage')
})

t.test('while Redis is down, the replica goes on from the last state it knew', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const redisLink = await link(t, redis.url)
  const store = new SharedHoldOffStore(redisLink, prefix, Date.now)
  const open = { failures: 2, openUntil: Date.now() + 10_000, coolingDownUntil: 0 }
  await store.write(open)
  await redis.kill()
  await until('the link to notice', () => redisLink.state === 'unavailable')
  t.same(await store.read(), open)
  const more = { ...open, failures: 3 }
  await store.write(more)
  t.same(await store.read(), more, 'written locally')
})

t.test('a write Redis refuses is kept locally', { skip }, async (t) => {
  const redis = await startRedis(t, ['--maxmemory', '1', '--maxmemory-policy', 'noeviction'])
  const prefix = uniquePrefix()
  const redisLink = await link(t, redis.url)
  const store = new SharedHoldOffStore(redisLink, prefix, Date.now)
  const open = { failures: 2, openUntil: Date.now() + 10_000, coolingDownUntil: 0 }
  await store.write(open)
  t.equal(await redis.client.exists(`${prefix}profile:hold-off`), 0, 'OOM: Redis refused the SET')
  t.equal(redisLink.state, 'connected')
})
