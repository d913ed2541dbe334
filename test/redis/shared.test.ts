import t, { type Test } from 'tap'
import { startHarness, movableClock, type Harness, type HarnessOptions } from '../helpers/harness.ts'
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

async function waitFor (what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const redisState = async (replica: Harness): Promise<string> => (await replica.get('/health/ready')).json().redis?.state

t.test('200 concurrent cold requests spread over 3 replicas cause exactly one Vobiz request', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 3)
  const sandbox = replicas[0]!.sandbox
  sandbox.inject({ kind: 'delay', ms: 150 }, 1)
  const replies = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
    const replica = replicas[i % 3]!
    return await replica.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': replica.keys.profile })
  }))
  t.same([...new Set(replies.map((r) => r.status))], [200])
  t.equal(sandbox.requests, 1, 'one upstream request for the whole fleet')
  t.equal(new Set(replies.filter((_, i) => i % 2 === 0).map((r) => r.headers.etag)).size, 1, 'every replica serves the same representation')
  const statuses = replies.map((r) => r.headers['cache-status'] ?? '')
  t.equal(statuses.filter((s) => s.includes('stored')).length, 1, 'one request started the fetch')
  t.ok(statuses.every((s) => s.includes('collapsed') || s.includes('stored')), 'the others waited on it, locally or across the fleet')
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
  const clock = movableClock()
  const [a, b] = (await fleet(t, redis, 2, { env: { CACHE_L1_TTL_MS: '200' }, sandbox: { now: clock.now } })).slice() as [Harness, Harness]
  const get = async (replica: Harness, headers: Record<string, string> = {}) => await replica.get('/profile/balance', { 'x-api-key': replica.keys.balance, ...headers })
  const before = (await get(a)).json()
  t.same((await get(b)).json(), before, 'b serves what a fetched')
  t.equal(a.sandbox.requests, 1)

  clock.advance(60_000) // the sandbox's balance moves with its clock
  const refreshed = await get(a, { 'cache-control': 'no-cache' })
  t.not(refreshed.json().balance, before.balance, 'a fetched a new balance')
  t.equal(a.sandbox.requests, 2)
  await new Promise((resolve) => setTimeout(resolve, 250))
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
  const started = Date.now()
  const reply = await replica.get('/profile', { 'x-api-key': replica.keys.profile })
  t.equal(reply.status, 200)
  t.ok(Date.now() - started >= 500, 'it waited for the lock to expire')
  t.equal(replica.sandbox.requests, 1, 'then fetched, once')
  t.match(reply.headers['cache-status'], /fwd=miss; fwd-status=200; stored/)
})

t.test('replicas waiting on a failed fetch get its failure without asking Vobiz again', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 3, { env: { UPSTREAM_RETRIES: '0' } })
  const sandbox = replicas[0]!.sandbox
  sandbox.inject({ kind: 'status', status: 500, delayMs: 150 }, 1)
  const replies = await Promise.all(replicas.map(async (replica) => await replica.get('/profile', { 'x-api-key': replica.keys.profile })))
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
    await new Promise((resolve) => setTimeout(resolve, 15))
  }
  t.same([...new Set(during.map((r) => r.status))], [200], 'every request succeeded while Redis was down')
  t.equal(a!.sandbox.requests, 1, 'from the copies the replicas held: no Vobiz request')
  t.equal(await redisState(a!), 'unavailable', 'readiness reports it')
  t.equal((await a!.get('/health/ready')).status, 200, 'and stays ready')
  t.equal(a!.logs.filter((line) => line.redis === 'unavailable').length, 1, 'the state change is logged once')

  await redis.start()
  await waitFor('both replicas to reconnect', async () => await redisState(a!) === 'connected' && await redisState(b!) === 'connected')
  t.equal(a!.logs.filter((line) => line.redis === 'connected').length, 2, 'connected at start, and again')
  // Shared again: a refresh on a is what b serves next.
  const refreshed = await a!.get('/profile', { 'x-api-key': a!.keys.profile, 'cache-control': 'no-cache' })
  await new Promise((resolve) => setTimeout(resolve, 150))
  const seen = await get(b!)
  t.equal(seen.headers.etag, refreshed.headers.etag)
  t.match(seen.headers['cache-status'], /; hit;/)
  t.equal(a!.sandbox.requests, 2, 'one Vobiz request for the refresh, none for b')
})
