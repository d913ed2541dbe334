import t, { type Test } from 'tap'
import { httpGet, startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts'
import { movableClock, until } from '../helpers/time.ts'
import { redisUnavailable, startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.ts'

// Several replicas of the real app in one process, sharing one real redis-server and one sandbox.
const skip = redisUnavailable()

async function fleet (t: Test, redis: RedisServer, count: number, options: HarnessOptions = {}): Promise<Harness[] & { prefix: string }> {
  const prefix = uniquePrefix()
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, ...options.env }
  const first = await startHarness(t, { ...options, env })
  const replicas = [first]
  for (let i = 1; i < count; i++) replicas.push(await startHarness(t, { ...options, env, replicaOf: first }))
  return Object.assign(replicas, { prefix })
}

const redisState = async (replica: Harness): Promise<string> => (await replica.get('/health/ready')).json().redis?.state

t.test('200 concurrent cold requests spread over 3 replicas cause exactly one Vobiz request', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 3)
  const sandbox = replicas[0]!.sandbox
  // Vobiz holds the fetch until all 200 requests are inside the replicas.
  sandbox.hold()
  const pending = Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const replica = replicas[i % 3]!
    return await replica.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': replica.keys.profile })
  }))
  await Promise.all([...replicas.map(async (replica, i) => await replica.arrived(i === 2 ? 66 : 67)), sandbox.received(1)])
  sandbox.release()
  const replies = await pending
  t.same([...new Set(replies.map((r) => r.status))], [200])
  t.equal(sandbox.requests, 1, 'one upstream request for the whole fleet')
  t.equal(new Set(replies.filter((_, i) => i % 2 === 0).map((r) => r.headers.etag)).size, 1, 'every replica serves the same representation')
  const statuses = replies.map((r) => r.headers['cache-status'] ?? '')
  t.equal(statuses.filter((s) => s.includes('stored')).length, 1, 'one request started the fetch')
  t.ok(statuses.every((s) => /collapsed|stored|; hit;/.test(s)), 'the others waited on it (locally or across the fleet), or came after it')
  t.equal(await redis.client.exists(`${replicas.prefix}profile:lock`), 0, 'the lock was released')
  t.ok(await redis.client.pttl(`${replicas.prefix}profile:entry`) > 600_000, 'the shared entry lives as long as the longest stale window')
})

t.test('a consumer\'s rate limit and refresh budget hold across replicas', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 3, { env: { RATE_LIMIT_PER_MINUTE: '10', REFRESH_PER_MINUTE: '2' } })
  const statuses: number[] = []
  for (let i = 0; i < 12; i++) {
    const replica = replicas[i % 3]!
    statuses.push((await replica.get('/profile', { 'x-api-key': replica.keys.profile })).status)
  }
  t.same(statuses.filter((s) => s === 200).length, 10, 'ten requests in the minute, whichever replica took them')
  t.same(statuses.slice(10), [429, 429])
  const last = await replicas[1]!.get('/profile/balance', { 'x-api-key': replicas[1]!.keys.balance })
  t.equal(last.status, 200, 'another consumer has its own budget')
  t.match(last.headers.ratelimit, /r=9;/)

  const refreshes = []
  for (const replica of replicas) refreshes.push(await replica.get('/profile/balance', { 'x-api-key': replica.keys.balance, 'cache-control': 'no-cache' }))
  t.same(refreshes.map((r) => r.status), [200, 200, 200])
  t.same(refreshes.map((r) => /refresh-refused/.test(r.headers['cache-status'] ?? '')), [false, false, true], 'the third refresh in the minute is refused, on a third replica')
})

t.test('a refresh on one replica is what the others serve after their L1 lifetime', { skip }, async (t) => {
  const redis = await startRedis(t)
  const vobizTime = movableClock()
  const [a, b] = (await fleet(t, redis, 2, { env: { CACHE_L1_TTL_MS: '200' }, sandbox: { now: vobizTime.now } })).slice() as [Harness, Harness]
  const get = async (replica: Harness, headers: Record<string, string> = {}) => await replica.get('/profile/balance', { 'x-api-key': replica.keys.balance, ...headers })
  const before = (await get(a)).json()
  t.same((await get(b)).json(), before, 'b serves what a fetched')
  t.equal(a.sandbox.requests, 1)

  vobizTime.advance(60_000) // the sandbox's balance moves with its clock
  a.clock.advance(1) // the refresh arrives after the first fetch
  const refreshed = await get(a, { 'cache-control': 'no-cache' })
  t.not(refreshed.json().balance, before.balance, 'a fetched a new balance')
  t.equal(a.sandbox.requests, 2)
  a.clock.advance(250) // the replicas' clock: b's copy is now older than CACHE_L1_TTL_MS
  const seen = await get(b)
  t.same(seen.json(), refreshed.json(), 'b serves the refreshed balance once its L1 copy is older than CACHE_L1_TTL_MS')
  t.match(seen.headers['cache-status'], /; hit;/, 'from the shared cache, not from Vobiz')
  t.equal(a!.sandbox.requests, 2, 'no further Vobiz request')
})

t.test('a replica whose lock holder died takes over once the lock expires', { skip }, async (t) => {
  const redis = await startRedis(t)
  const prefix = uniquePrefix()
  const replica = await startHarness(t, { env: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, UPSTREAM_TIMEOUT_MS: '100' } })
  // What a replica killed mid-fetch leaves behind: its lock, which expires after the upstream deadline plus grace.
  await redis.client.set(`${prefix}profile:lock`, 'a-replica-that-died', 'PX', 600)
  const reply = await replica.get('/profile', { 'x-api-key': replica.keys.profile })
  t.equal(reply.status, 200)
  t.equal(replica.sandbox.requests, 1, 'once the lock expired, it fetched, once')
  t.match(reply.headers['cache-status'], /fwd=miss; fwd-status=200; stored/)
})

t.test('replicas waiting on a failed fetch get its failure without asking Vobiz again', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 3, { env: { UPSTREAM_RETRIES: '0' } })
  const sandbox = replicas[0]!.sandbox
  // The failing fetch is held until every replica has its request.
  sandbox.hold().inject({ kind: 'status', status: 500 }, 1)
  const pending = Promise.all(replicas.map(async (replica) => await replica.get('/profile', { 'x-api-key': replica.keys.profile })))
  await Promise.all([...replicas.map(async (replica) => await replica.arrived(1)), sandbox.received(1)])
  sandbox.release()
  const replies = await pending
  t.same(replies.map((r) => r.status), [502, 502, 502])
  t.same(replies.map((r) => r.json().code), ['upstream_unavailable', 'upstream_unavailable', 'upstream_unavailable'])
  t.equal(sandbox.requests, 1)
})

t.test('a Vobiz 429 seen by one replica holds off the whole fleet', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await fleet(t, redis, 2, { env: { UPSTREAM_RETRIES: '0' } })
  a!.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, 1)
  const first = await a!.get('/profile', { 'x-api-key': a!.keys.profile })
  t.equal(first.status, 503)
  t.equal(first.json().code, 'upstream_rate_limited')
  const second = await b!.get('/profile', { 'x-api-key': b!.keys.profile })
  t.equal(second.json().code, 'upstream_rate_limited', 'the other replica holds off too')
  t.ok(Number(second.headers['retry-after']) > 25, 'for what is left of Vobiz\'s Retry-After')
  t.equal(a!.sandbox.requests, 1, 'without asking Vobiz')
})

t.test('the breaker opens for the fleet on failures seen by different replicas', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 3, { env: { UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '2', BREAKER_OPEN_SECONDS: '30' } })
  const sandbox = replicas[0]!.sandbox
  sandbox.inject({ kind: 'status', status: 503 })
  for (const replica of replicas.slice(0, 2)) {
    t.equal((await replica.get('/profile', { 'x-api-key': replica.keys.profile })).json().code, 'upstream_unavailable')
  }
  t.equal(sandbox.requests, 2)
  const third = await replicas[2]!.get('/profile', { 'x-api-key': replicas[2]!.keys.profile })
  t.equal(third.status, 502)
  t.match(third.json().detail, /stopped calling it/)
  t.ok(Number(third.headers['retry-after']) > 25, 'retry after the breaker\'s open period')
  t.equal(sandbox.requests, 2, 'the third replica did not ask Vobiz: the fleet breaker is open')
})

t.test('Redis killed mid-run: replicas serve from local state, then share again once it is back', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a, b] = await fleet(t, redis, 2, { env: { CACHE_L1_TTL_MS: '100', RATE_LIMIT_PER_MINUTE: '1000' } })
  const get = async (replica: Harness) => await replica.get('/profile', { 'x-api-key': replica.keys.profile })
  t.equal((await get(a!)).status, 200)
  t.equal((await get(b!)).status, 200)
  t.equal(await redisState(a!), 'connected')

  await redis.kill()
  const during = []
  for (let i = 0; i < 20; i++) {
    during.push(await get(i % 2 === 0 ? a! : b!))
    a!.clock.advance(15) // past CACHE_L1_TTL_MS every few requests: the replicas look for the shared copy
  }
  t.same([...new Set(during.map((r) => r.status))], [200], 'every request succeeded while Redis was down')
  t.equal(a!.sandbox.requests, 1, 'from the copies the replicas held: no Vobiz request')
  t.equal(await redisState(a!), 'unavailable', 'readiness reports it')
  t.equal((await a!.get('/health/ready')).status, 200, 'and stays ready')
  t.equal(a!.logs.filter((line) => line.redis === 'unavailable').length, 1, 'the state change is logged once')

  await redis.start()
  await until('both replicas to reconnect', async () => await redisState(a!) === 'connected' && await redisState(b!) === 'connected')
  t.equal(a!.logs.filter((line) => line.redis === 'connected').length, 2, 'connected at start, and again')
  // Shared again: a refresh on a is what b serves next.
  const refreshed = await a!.get('/profile', { 'x-api-key': a!.keys.profile, 'cache-control': 'no-cache' })
  a!.clock.advance(150)
  const seen = await get(b!)
  t.equal(seen.headers.etag, refreshed.headers.etag)
  t.match(seen.headers['cache-status'], /; hit;/)
  t.equal(a!.sandbox.requests, 2, 'one Vobiz request for the refresh, none for b')
})

t.test('a hung Redis costs a request at most REDIS_TIMEOUT_MS, once: the replica goes local until it answers', { skip }, async (t) => {
  const redis = await startRedis(t)
  const [a] = await fleet(t, redis, 1, { env: { REDIS_TIMEOUT_MS: '100' } })
  const get = async () => await a!.get('/profile', { 'x-api-key': a!.keys.profile })
  t.equal((await get()).status, 200)
  redis.pause()
  // The hang lasts until resume(): these answers arrive only because the replica stopped waiting on Redis.
  for (let i = 0; i < 5; i++) t.equal((await get()).status, 200)
  t.equal(await redisState(a!), 'unavailable')
  t.ok(a!.logs.some((line) => line.redis === 'unavailable' && /timed out/i.test(String(line.reason))), 'logged with the reason')
  redis.resume()
  await until('the replica to reconnect', async () => await redisState(a!) === 'connected')
  t.equal((await get()).status, 200)
})

t.test('REDIS_RATE_LIMIT_FALLBACK: local counts per replica, open lets through, closed answers 503', { skip }, async (t) => {
  const redis = await startRedis(t)
  const env = { RATE_LIMIT_PER_MINUTE: '2', REFRESH_PER_MINUTE: '5' }
  const [local] = await fleet(t, redis, 1, { env })
  const [open] = await fleet(t, redis, 1, { env: { ...env, REDIS_RATE_LIMIT_FALLBACK: 'open' } })
  const [closed] = await fleet(t, redis, 1, { env: { ...env, REDIS_RATE_LIMIT_FALLBACK: 'closed' } })
  await redis.kill()
  const burst = async (replica: Harness, headers: Record<string, string> = {}) => {
    const replies = []
    for (let i = 0; i < 3; i++) replies.push(await replica.get('/profile', { 'x-api-key': replica.keys.profile, ...headers }))
    return replies
  }
  t.same((await burst(local!)).map((r) => r.status), [200, 200, 429], 'local: this replica\'s own counter')
  t.same((await burst(open!)).map((r) => r.status), [200, 200, 200], 'open: not counted')
  const refused = await burst(closed!)
  t.same(refused.map((r) => r.status), [503, 503, 503], 'closed: cannot count, so refused')
  t.match(refused[0]!.json(), { code: 'service_unavailable', detail: /Rate limits cannot be checked/ })
  t.equal(refused[0]!.headers['retry-after'], '1')
  t.equal((await closed!.get('/health/live')).status, 200, 'probes are not rate-limited')
  const metrics = await closed!.app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(metrics.json().redis.state, 'unavailable')
})

t.test('with Redis down at start, the service starts on local state and shares once Redis comes up', { skip }, async (t) => {
  const redis = await startRedis(t)
  await redis.kill()
  const [a] = await fleet(t, redis, 1, { env: { CACHE_L1_TTL_MS: '50' } })
  t.equal(await redisState(a!), 'unavailable')
  const first = await a!.get('/profile', { 'x-api-key': a!.keys.profile })
  t.equal(first.status, 200)
  await redis.start()
  await until('the replica to connect', async () => await redisState(a!) === 'connected')
  a!.clock.advance(60)
  const second = await a!.get('/profile', { 'x-api-key': a!.keys.profile })
  t.equal(second.status, 200)
  t.equal(a!.sandbox.requests, 2, 'the empty shared cache was filled from Vobiz once')
  t.equal(await redis.client.exists(`${(await redis.client.keys('*:profile:entry'))[0] ?? 'none'}`), 1, 'and published')
})

t.test('a shared entry this version cannot read is ignored and replaced', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 1)
  await redis.client.set(`${replicas.prefix}profile:entry`, JSON.stringify({ fetchedAt: replicas[0]!.clock.now() - 1000, value: { id: 42 } }), 'PX', 60_000)
  await redis.client.set(`${replicas.prefix}profile:failure`, 'not json', 'PX', 60_000)
  const reply = await replicas[0]!.get('/profile', { 'x-api-key': replicas[0]!.keys.profile })
  t.equal(reply.status, 200)
  t.equal(replicas[0]!.sandbox.requests, 1)
  t.ok(replicas[0]!.logs.some((line) => /not in this version's format/.test(String(line.msg))))
  const stored = JSON.parse(await redis.client.get(`${replicas.prefix}profile:entry`) ?? '{}')
  t.equal(stored.value.id, reply.json().id, 'replaced by the fetched profile')
})

t.test('metrics report the Redis link, the fallbacks and how loads were satisfied', { skip }, async (t) => {
  const redis = await startRedis(t)
  const token = 'metrics-token-0123456789'
  const [a, b] = (await fleet(t, redis, 2, { env: { METRICS_TOKEN: token } })).slice() as [Harness, Harness]
  await a.get('/profile', { 'x-api-key': a.keys.profile })
  await b.get('/profile', { 'x-api-key': b.keys.profile })
  const scrape = async (replica: Harness) => (await httpGet(`${replica.url}/metrics`, { authorization: `Bearer ${token}` })).text
  t.match(await scrape(a), /^vobiz_bff_redis_up 1$/m)
  t.match(await scrape(a), /^vobiz_bff_shared_cache_loads_total\{result="fetched"\} 1$/m)
  t.match(await scrape(b), /^vobiz_bff_shared_cache_loads_total\{result="shared-hit"\} 1$/m)
  await redis.kill()
  await b.get('/profile', { 'x-api-key': b.keys.profile })
  const after = await scrape(b)
  t.match(after, /^vobiz_bff_redis_up 0$/m)
  t.match(after, /^vobiz_bff_redis_fallbacks_total\{operation="rate-limit"\} [1-9]/m)
})

t.test('Redis refusing a command is a fallback for that operation, not an outage', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 1)
  const [a] = replicas
  // A key of the wrong type makes every read of the shared state fail with WRONGTYPE.
  await redis.client.hset(`${replicas.prefix}profile:lock`, 'x', '1')
  for (let i = 0; i < 2; i++) {
    t.equal((await a!.get('/profile/balance', { 'x-api-key': a!.keys.balance, 'cache-control': 'no-cache' })).status, 200)
    a!.clock.advance(1)
  }
  t.equal(a!.sandbox.requests, 2, 'fetched locally')
  t.equal(await redisState(a!), 'connected', 'the link stays up')
  t.equal(a!.logs.filter((line) => /refused a command/.test(String(line.msg))).length, 1, 'logged once')
})

t.test('a lock held past every deadline: 504 after the wait, without asking Vobiz', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 1, { env: { UPSTREAM_TIMEOUT_MS: '100' } })
  await redis.client.set(`${replicas.prefix}profile:lock`, 'a-replica-with-a-longer-deadline', 'PX', 60_000)
  const reply = await replicas[0]!.get('/profile', { 'x-api-key': replicas[0]!.keys.profile })
  t.equal(reply.status, 504)
  t.equal(reply.json().code, 'upstream_timeout')
  t.equal(replicas[0]!.sandbox.requests, 0)
})

t.test('a wrong Redis password: the replica serves on local state, says why, and never logs the password', { skip }, async (t) => {
  const redis = await startRedis(t, ['--requirepass', 'right-redis-password-7f3a'])
  const wrong = redis.url.replace('right-redis-password-7f3a', 'WRONG-redis-password-91bc')
  const [a] = await fleet(t, redis, 1, { env: { REDIS_URL: wrong } })
  t.equal((await a!.get('/profile', { 'x-api-key': a!.keys.profile })).status, 200)
  t.equal(await redisState(a!), 'unavailable')
  t.ok(a!.logs.some((line) => line.redis === 'unavailable' && /WRONGPASS|NOAUTH|invalid/i.test(String(line.reason))), 'the reason is logged')
  t.notMatch(a!.rawLogs(), /redis-password/, 'neither password appears in any log line')
  t.equal((await redis.client.ping()), 'PONG', 'the right password works (the test client uses it)')
})
