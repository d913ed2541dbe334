import t from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import { consumersJson, startHarness } from '../helpers/harness.ts'

const RATE_LIMIT = /^"(default|anonymous)";r=(\d+);t=(\d+)$/

t.test('each consumer has its own budget, from rate_limit_per_minute or RATE_LIMIT_PER_MINUTE', async (t) => {
  const small = generateApiKey()
  const other = generateApiKey()
  const h = await startHarness(t, {
    env: {
      RATE_LIMIT_PER_MINUTE: '4',
      CONSUMERS: consumersJson({ small: { key: small, scopes: ['profile:read'], limit: 3 }, other: { key: other, scopes: ['profile:read'] } })
    }
  })
  const replies = []
  for (let i = 0; i < 4; i++) replies.push(await h.get('/profile', { 'x-api-key': small }))
  t.same(replies.map((r) => r.status), [200, 200, 200, 429])
  t.same(replies.map((r) => r.headers['ratelimit-policy']), Array(4).fill('"default";q=3;w=60'))
  t.same(replies.map((r) => RATE_LIMIT.exec(r.headers.ratelimit as string)?.[2]), ['2', '1', '0', '0'])
  const limited = replies[3]!
  t.equal(limited.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(limited.json(), { code: 'rate_limited', status: 429 })
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`)

  const fine = await h.get('/profile', { 'x-api-key': other })
  t.equal(fine.status, 200, 'another consumer is not affected')
  t.equal(fine.headers['ratelimit-policy'], '"default";q=4;w=60', 'the default limit applies without rate_limit_per_minute')
  t.equal(h.sandbox.requests, 1)
})

t.test('requests without valid credentials share a small per-IP budget; valid keys from that IP do not', async (t) => {
  const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '3' } })
  const guesses = []
  for (let i = 0; i < 5; i++) guesses.push(await h.get('/profile', { 'x-api-key': `guess-${i}`, 'x-forwarded-for': `10.0.0.${i}` }))
  t.same(guesses.map((r) => r.status), [401, 401, 401, 429, 429], 'key guessing is cut off, and X-Forwarded-For is not believed by default')
  t.equal(guesses[0]?.headers['ratelimit-policy'], '"anonymous";q=3;w=60')
  t.equal((await h.get('/profile/balance')).status, 429, 'requests with no key count against the same budget')
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200, 'an authenticated consumer is limited by identity, not IP')
})

t.test('TRUST_PROXY=true takes the client IP from X-Forwarded-For', async (t) => {
  const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: 'true' } })
  t.equal((await h.get('/profile', { 'x-forwarded-for': '203.0.113.1' })).status, 401)
  t.equal((await h.get('/profile', { 'x-forwarded-for': '203.0.113.1' })).status, 429)
  t.equal((await h.get('/profile', { 'x-forwarded-for': '203.0.113.2' })).status, 401, 'another client behind the proxy has its own budget')
})

t.test('forced refreshes have their own smaller budget; past it the cached answer is served, saying so', async (t) => {
  const h = await startHarness(t, { env: { REFRESH_PER_MINUTE: '2' } })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  const refreshes = []
  for (let i = 0; i < 4; i++) refreshes.push(await h.get('/profile/balance', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' }))
  t.same(refreshes.map((r) => r.status), [200, 200, 200, 200], 'never an error')
  t.match(refreshes[1]?.headers['cache-status'], /fwd=request/)
  t.match(refreshes[2]?.headers['cache-status'], /^vobiz-bff; hit; ttl=\d+; detail=refresh-refused$/)
  t.equal(h.sandbox.requests, 3, 'the cold fetch and two refreshes; the refused ones did not reach Vobiz')
  const other = await h.get('/profile/balance', { 'x-api-key': h.keys.balance, 'cache-control': 'no-cache' })
  t.match(other.headers['cache-status'], /fwd=request/, 'another consumer still has its refresh budget')
})

t.test('a refused refresh on a cold cache still fetches (the data is needed anyway)', async (t) => {
  const h = await startHarness(t, { env: { REFRESH_PER_MINUTE: '0' } })
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
  t.equal(res.status, 200)
  t.match(res.headers['cache-status'], /fwd=miss; fwd-status=200; stored; ttl=\d+; detail=refresh-refused$/)
})
