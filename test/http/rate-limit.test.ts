import t from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import { consumersJson, startHarness } from '../helpers/harness.ts'
import { Metrics } from '../../src/observability/metrics.ts'
import { createLimiters } from '../../src/http/rate-limit.ts'

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

t.test('TRUST_PROXY as a hop count or a proxy list: the address the last trusted proxy saw, so a forged first X-Forwarded-For entry changes nothing', async (t) => {
  for (const trust of ['1', '127.0.0.1', 'loopback,10.0.0.0/8']) {
    const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: trust } })
    // As nginx's $proxy_add_x_forwarded_for does: the client's own header, then the address the proxy saw.
    const statuses = []
    for (const forged of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) statuses.push((await h.get('/profile', { 'x-forwarded-for': `${forged}, 203.0.113.1` })).status)
    t.same(statuses, [401, 429, 429], `TRUST_PROXY=${trust}: rotating the forged entry does not reset the budget`)
    t.equal((await h.get('/profile', { 'x-forwarded-for': '1.1.1.1, 203.0.113.2' })).status, 401, `TRUST_PROXY=${trust}: another real client has its own`)
  }
})

t.test('an X-Forwarded-For entry that is not an address is no client of its own: it counts as the hop that sent it', async (t) => {
  for (const trust of ['1', 'true', 'loopback']) {
    const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: trust } })
    const statuses = []
    for (const madeUp of ['g1', '010.0.0.9', '167772169', '1.2.3.4.5', '', 'unknown', '[::1]:x']) statuses.push((await h.get('/profile', { 'x-forwarded-for': madeUp })).status)
    t.same(statuses, [401, 429, 429, 429, 429, 429, 429], `TRUST_PROXY=${trust}: one budget (the proxy's), however the entry is made up`)
    t.equal((await h.get('/profile', { 'x-forwarded-for': '1.2.3.4:80' })).status, 401, `TRUST_PROXY=${trust}: an address with a port is that address`)
    t.equal((await h.get('/profile', { 'x-forwarded-for': '1.2.3.4' })).status, 429)
    t.equal((await h.get('/profile', { 'x-forwarded-for': '[2001:db8::1]:443' })).status, 401)
    t.equal((await h.get('/profile', { 'x-forwarded-for': '2001:db8::2' })).status, 429, 'the same /64')
    const refused = h.logs.filter((line) => line.msg === 'request' && line.status === 429).map((line) => line.client)
    t.same(new Set(refused), new Set(['127.0.0.1', '1.2.3.4', '2001:db8::2']), 'the access line names the address counted')
  }
})

t.test('anonymous IPv6 clients are counted per /64: rotating through one network does not reset the budget', async (t) => {
  const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: 'loopback' } })
  const from = async (address: string) => (await h.get('/profile', { 'x-forwarded-for': address })).status
  t.equal(await from('2001:db8:1:2::1'), 401)
  t.equal(await from('2001:db8:1:2::2'), 429)
  t.equal(await from('2001:db8:1:2:ffff:ffff:ffff:fffe'), 429)
  t.equal(await from('2001:db8:1:3::1'), 401, 'the next /64 is another client')
  t.equal(await from('203.0.113.5'), 401)
  t.equal(await from('::ffff:203.0.113.5'), 429, 'IPv4-mapped is the same client as its IPv4 address')
})

t.test('anonymous counters live apart from consumers\' counters: no number of addresses can evict a consumer\'s count', async (t) => {
  const stores: Array<Set<string>> = []
  const limiters = createLimiters({
    refreshPerMinute: 1,
    metrics: new Metrics({ fleet: false }),
    store: () => {
      const keys = new Set<string>()
      stores.push(keys)
      return { incr: (key, callback) => { keys.add(key); callback(null, { current: 1, ttl: 60_000 }) } }
    }
  })
  const request = (identity: unknown) => ({ identity }) as never
  const reply = { header: () => reply } as never
  limiters.enforce(request({ kind: 'api-key', name: 'billing', rateKey: 'consumer:billing', limit: 5, policy: '"default"', policyHeader: '' }), reply, () => {})
  limiters.enforce(request({ kind: 'anonymous', rateKey: 'ip:203.0.113.1', limit: 5, policy: '"anonymous"', policyHeader: '' }), reply, () => {})
  const holding = (key: string) => stores.filter((store) => store.has(key))
  t.equal(holding('consumer:billing').length, 1)
  t.equal(holding('ip:203.0.113.1').length, 1)
  t.not(holding('consumer:billing')[0], holding('ip:203.0.113.1')[0], 'two different stores')
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
