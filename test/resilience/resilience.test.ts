import t from 'tap'
import { movableClock, startHarness } from '../helpers/harness.ts'

const FAST = { UPSTREAM_TIMEOUT_MS: '1000', UPSTREAM_ATTEMPT_TIMEOUT_MS: '150' }

const settle = async () => new Promise((resolve) => setTimeout(resolve, 50))

t.test('retries: a transient 503 then success is one fetch of two attempts; Retry-After is honoured', async (t) => {
  const h = await startHarness(t, { env: { UPSTREAM_TIMEOUT_MS: '3000' } })
  h.sandbox.inject({ kind: 'status', status: 503, headers: { 'retry-after': '1' } }, 1)
  const started = Date.now()
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 200)
  t.equal(h.sandbox.requests, 2)
  t.ok(Date.now() - started >= 950, 'waited for the Retry-After second before the second attempt')
  t.match(h.logs.find((l) => l.msg === 'vobiz fetch'), { upstream: { outcome: 'ok', attempts: 2 } })
})

t.test('500 concurrent requests during an outage cause at most 1 + UPSTREAM_RETRIES upstream attempts', async (t) => {
  const h = await startHarness(t, { env: FAST })
  h.sandbox.inject({ kind: 'status', status: 503, delayMs: 20 })
  const replies = await Promise.all(Array.from({ length: 500 }, (_, i) =>
    h.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': h.keys.profile })))
  t.ok(replies.every((r) => r.status === 502 && r.json().code === 'upstream_unavailable'))
  // Requests arriving after a fetch cycle failed start the next one; each cycle makes at most 3 attempts.
  const cycles = h.logs.filter((l) => l.component === 'vobiz' && l.upstream !== undefined).map((l) => (l.upstream as { attempts: number }).attempts)
  t.ok(cycles.every((attempts) => attempts <= 3), `attempts per fetch cycle: ${cycles.join(', ')}`)
  t.equal(h.sandbox.requests, cycles.reduce((a, b) => a + b, 0), 'every upstream request belongs to a logged fetch cycle')
  t.ok(cycles.length <= 4, `${cycles.length} fetch cycles for 500 requests`)
})

t.test('the breaker opens after N failed fetches, rejects fast, lets one probe through, and closes on success', async (t) => {
  const h = await startHarness(t, { env: { ...FAST, UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '3', BREAKER_OPEN_SECONDS: '0.5' } })
  const key = { 'x-api-key': h.keys.profile }
  h.sandbox.inject({ kind: 'status', status: 500 })
  for (let i = 0; i < 3; i++) t.equal((await h.get('/profile', key)).json().code, 'upstream_unavailable')
  t.equal(h.sandbox.requests, 3)
  t.ok(h.logs.some((l) => l.msg === 'vobiz circuit breaker open' && l.level === 50), 'the breaker opening is logged as an error')

  const open = await h.get('/profile', key)
  t.equal(open.status, 502)
  t.match(open.json(), { code: 'upstream_unavailable', detail: /stopped calling it/ })
  t.equal(open.headers['retry-after'], '1')
  t.equal(h.sandbox.requests, 3, 'rejected fast: no upstream request while open')

  await new Promise((resolve) => setTimeout(resolve, 550))
  h.sandbox.clearFaults().inject({ kind: 'delay', ms: 50 }, 1)
  const probes = await Promise.all(Array.from({ length: 20 }, () => h.get('/profile', key)))
  t.ok(probes.every((r) => r.status === 200))
  t.equal(h.sandbox.requests, 4, 'exactly one probe went through, and it closed the breaker')
  t.ok(h.logs.some((l) => l.msg === 'vobiz circuit breaker half-open'))
  t.ok(h.logs.some((l) => l.msg === 'vobiz circuit breaker closed'))
})

t.test('a failed probe re-opens the breaker; a stale copy is served meanwhile as breaker-open', async (t) => {
  const time = movableClock()
  const h = await startHarness(t, { now: time.now, env: { ...FAST, UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '1', BREAKER_OPEN_SECONDS: '0.3' } })
  const key = { 'x-api-key': h.keys.profile }
  await h.get('/profile', key)
  time.advance(100_000)
  h.sandbox.inject({ kind: 'status', status: 502 })
  const failed = await h.get('/profile', key)
  t.match(failed.headers['cache-status'], /detail=stale-if-error$/)
  const open = await h.get('/profile', key)
  t.match(open.headers['cache-status'], /^vobiz-bff; fwd=stale; ttl=-\d+; detail=breaker-open$/)
  t.equal(h.sandbox.requests, 2)
  await new Promise((resolve) => setTimeout(resolve, 350))
  await h.get('/profile', key)
  t.equal(h.sandbox.requests, 3, 'the probe')
  await h.get('/profile', key)
  t.equal(h.sandbox.requests, 3, 'open again after the failed probe')
})

t.test('stale-while-revalidate: /profile answers at once from the stale copy and refreshes once in the background', async (t) => {
  const time = movableClock()
  const h = await startHarness(t, { now: time.now })
  const key = { 'x-api-key': h.keys.profile }
  await h.get('/profile', key)
  time.advance(40_000)
  h.sandbox.inject({ kind: 'delay', ms: 200 }, 1)
  const started = Date.now()
  const replies = await Promise.all(Array.from({ length: 10 }, () => h.get('/profile', key)))
  t.ok(Date.now() - started < 150, 'no one waited for the refresh')
  t.ok(replies.every((r) => /^vobiz-bff; fwd=stale; ttl=-10; detail=stale-while-revalidate$/.test(String(r.headers['cache-status']))))
  t.ok(replies.every((r) => r.headers.age === '40'))
  await new Promise((resolve) => setTimeout(resolve, 250))
  t.equal(h.sandbox.requests, 2, 'one background refresh')
  const after = await h.get('/profile', key)
  t.match(after.headers['cache-status'], /; hit; /)
  t.equal(after.headers.age, '0')
})

t.test('a failed background refresh keeps the stale copy and raises nothing', async (t) => {
  const time = movableClock()
  const h = await startHarness(t, { now: time.now })
  const key = { 'x-api-key': h.keys.profile }
  const first = await h.get('/profile', key)
  time.advance(40_000)
  h.sandbox.inject({ kind: 'status', status: 500 })
  for (let i = 0; i < 3; i++) {
    const res = await h.get('/profile', key)
    t.equal(res.status, 200)
    t.equal(res.text, first.text)
    t.match(res.headers['cache-status'], /detail=stale-while-revalidate$/)
    await settle()
  }
  t.equal(h.sandbox.requests, 4, 'one background attempt per stale answer, each failing quietly')
})

t.test('/profile/balance has no stale-while-revalidate: an expired balance waits for fresh data', async (t) => {
  const time = movableClock()
  const h = await startHarness(t, { now: time.now })
  const key = { 'x-api-key': h.keys.profile }
  const first = await h.get('/profile/balance', key)
  time.advance(6_000)
  const res = await h.get('/profile/balance', key)
  t.match(res.headers['cache-status'], /^vobiz-bff; fwd=stale; fwd-status=200; stored; ttl=\d$/, 'fetched, not served stale')
  t.ok(Date.parse(res.json().as_of) > Date.parse(first.json().as_of))
  time.advance(70_000)
  h.sandbox.inject({ kind: 'status', status: 500 })
  const tooOld = await h.get('/profile/balance', key)
  t.equal(tooOld.status, 502, 'past BALANCE_STALE_IF_ERROR_SECONDS the error is passed on')
})

t.test('Cache-Control: only-if-cached never goes upstream', async (t) => {
  const time = movableClock()
  const h = await startHarness(t, { now: time.now })
  const onlyCached = { 'x-api-key': h.keys.profile, 'cache-control': 'only-if-cached' }
  const cold = await h.get('/profile', onlyCached)
  t.equal(cold.status, 504)
  t.equal(cold.json().code, 'not_cached')
  t.equal(h.sandbox.requests, 0)
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.match((await h.get('/profile', onlyCached)).headers['cache-status'], /; hit; /)
  time.advance(100_000)
  const stale = await h.get('/profile', onlyCached)
  t.equal(stale.status, 200)
  t.match(stale.headers['cache-status'], /^vobiz-bff; fwd=stale; ttl=-\d+; detail=only-if-cached$/)
  time.advance(600_000)
  t.equal((await h.get('/profile', onlyCached)).status, 504, 'past every window: not cached')
  t.equal((await h.get('/profile', { ...onlyCached, 'cache-control': 'no-cache, only-if-cached' })).status, 504, 'only-if-cached wins over no-cache')
  t.equal(h.sandbox.requests, 1)
})

t.test('a forced refresh that fails falls back on a still-fresh copy, saying so', async (t) => {
  const h = await startHarness(t, { env: FAST })
  const key = { 'x-api-key': h.keys.profile }
  const first = await h.get('/profile', key)
  h.sandbox.inject({ kind: 'status', status: 500 }, 1)
  const res = await h.get('/profile', { ...key, 'cache-control': 'no-cache' })
  t.equal(res.status, 200)
  t.equal(res.text, first.text)
  t.match(res.headers['cache-status'], /^vobiz-bff; hit; ttl=\d+; detail=refresh-failed$/)
})

t.test('one Vobiz 429 makes the whole service hold off for its Retry-After', async (t) => {
  const h = await startHarness(t, { env: FAST })
  h.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': '20' } }, 1)
  const first = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(first.status, 503)
  const others = await Promise.all(Array.from({ length: 30 }, (_, i) =>
    h.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': i % 3 === 0 ? h.keys.balance : h.keys.profile, 'cache-control': 'no-cache' })))
  t.ok(others.every((r) => [503, 403].includes(r.status)))
  t.ok(others.filter((r) => r.status === 503).every((r) => Number(r.headers['retry-after']) <= 20 && r.json().code === 'upstream_rate_limited'))
  t.equal(h.sandbox.requests, 1, 'no request reached Vobiz during the cool-down')
})
