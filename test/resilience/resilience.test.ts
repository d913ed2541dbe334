import t from 'tap'
import { httpGet, startHarness, type Harness } from '../helpers/harness.ts'
import { REPEAT_LOG_INTERVAL_MS } from '../../src/vobiz/upstream.ts'
import { movableClock, until } from '../helpers/time.ts'

/** Fetches finished so far (one log line each, success or failure). */
const METRICS_TOKEN = 'resilience-metrics-token'
/** Vobiz fetches finished so far, whatever their outcome (from /metrics: repeated failures are not all logged). */
async function fetchesFinished (h: Harness): Promise<number> {
  const { text } = await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })
  return [...text.matchAll(/^vobiz_bff_upstream_fetch_duration_seconds_count\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
}

t.test('retries: a transient 503 then success is one fetch of two attempts; Retry-After is honoured', async (t) => {
  const h = await startHarness(t)
  h.sandbox.inject({ kind: 'status', status: 503, headers: { 'retry-after': '1' } }, 1)
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 200)
  t.equal(h.sandbox.requests, 2)
  t.same(h.clock.slept, [1000], 'waited for the Retry-After second (not the shorter backoff) before the second attempt')
  t.match(h.logs.find((l) => l.msg === 'vobiz fetch'), { upstream: { outcome: 'ok', attempts: 2 } })
})

t.test('500 concurrent requests during an outage cause at most 1 + UPSTREAM_RETRIES upstream attempts', async (t) => {
  const h = await startHarness(t)
  // The first attempt is held until all 500 requests are inside the service: they all wait on one fetch.
  h.sandbox.hold().inject({ kind: 'status', status: 503 })
  const replies = Promise.all(Array.from({ length: 500 }, (_, i) =>
    h.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': h.keys.profile })))
  await Promise.all([h.arrived(500), h.sandbox.received(1)])
  h.sandbox.release()
  t.ok((await replies).every((r) => r.status === 502 && r.json().code === 'upstream_unavailable'))
  const cycles = h.logs.filter((l) => l.component === 'vobiz' && l.upstream !== undefined).map((l) => (l.upstream as { attempts: number }).attempts)
  t.same(cycles, [3], 'one fetch of 1 + UPSTREAM_RETRIES attempts answered all 500')
  t.equal(h.sandbox.requests, 3)
})

t.test('the breaker opens after N failed fetches, rejects fast, lets one probe through, and closes on success', async (t) => {
  // The breaker (cockatiel) reads Date.now() itself: the clock moves the global Date too.
  const h = await startHarness(t, { clock: movableClock(t), env: { UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '3', BREAKER_OPEN_SECONDS: '0.5' } })
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

  h.clock.advance(499)
  t.equal((await h.get('/profile', key)).status, 502, 'still open just before BREAKER_OPEN_SECONDS')
  t.equal(h.sandbox.requests, 3)
  h.clock.advance(1)
  // The probe is held until all 20 requests are inside: only it may reach Vobiz.
  h.sandbox.clearFaults().hold()
  const arrived = h.arrived(h.requests + 20)
  const probes = Promise.all(Array.from({ length: 20 }, () => h.get('/profile', key)))
  await Promise.all([arrived, h.sandbox.received(4)])
  h.sandbox.release()
  t.ok((await probes).every((r) => r.status === 200))
  t.equal(h.sandbox.requests, 4, 'exactly one probe went through, and it closed the breaker')
  t.ok(h.logs.some((l) => l.msg === 'vobiz circuit breaker half-open'))
  t.ok(h.logs.some((l) => l.msg === 'vobiz circuit breaker closed'))
})

t.test('a failed probe re-opens the breaker; a stale copy is served meanwhile as breaker-open', async (t) => {
  const h = await startHarness(t, { clock: movableClock(t), env: { UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '1', BREAKER_OPEN_SECONDS: '0.3' } })
  const key = { 'x-api-key': h.keys.profile }
  await h.get('/profile', key)
  h.clock.advance(100_000)
  h.sandbox.inject({ kind: 'status', status: 502 })
  const failed = await h.get('/profile', key)
  t.match(failed.headers['cache-status'], /detail=stale-if-error$/)
  const open = await h.get('/profile', key)
  t.match(open.headers['cache-status'], /^vobiz-bff; hit; ttl=-\d+; detail=breaker-open$/)
  t.equal(h.sandbox.requests, 2)
  h.clock.advance(300)
  await h.get('/profile', key)
  t.equal(h.sandbox.requests, 3, 'the probe')
  await h.get('/profile', key)
  t.equal(h.sandbox.requests, 3, 'open again after the failed probe')
})

t.test('stale-while-revalidate: /profile answers at once from the stale copy and refreshes once in the background', async (t) => {
  const h = await startHarness(t, { env: { METRICS_TOKEN } })
  const key = { 'x-api-key': h.keys.profile }
  await h.get('/profile', key)
  h.clock.advance(40_000)
  // Vobiz holds the refresh: every answer below arrives while it is still in flight.
  h.sandbox.hold()
  const replies = await Promise.all(Array.from({ length: 10 }, () => h.get('/profile', key)))
  t.equal(h.sandbox.requests, 2, 'one background refresh, still unanswered: no one waited for it')
  t.ok(replies.every((r) => /^vobiz-bff; hit; ttl=-10; detail=stale-while-revalidate$/.test(String(r.headers['cache-status']))))
  t.ok(replies.every((r) => r.headers.age === '40'))
  h.sandbox.release()
  await until('the background refresh to finish', async () => await fetchesFinished(h) === 2)
  t.equal(h.sandbox.requests, 2, 'one background refresh')
  const after = await h.get('/profile', key)
  t.match(after.headers['cache-status'], /; hit; /)
  t.equal(after.headers.age, '0')
})

t.test('a failed background refresh keeps the stale copy and raises nothing', async (t) => {
  const h = await startHarness(t, { env: { METRICS_TOKEN } })
  const key = { 'x-api-key': h.keys.profile }
  const first = await h.get('/profile', key)
  h.clock.advance(40_000)
  h.sandbox.inject({ kind: 'status', status: 500 })
  for (let i = 0; i < 3; i++) {
    const res = await h.get('/profile', key)
    t.equal(res.status, 200)
    t.equal(res.text, first.text)
    t.match(res.headers['cache-status'], /detail=stale-while-revalidate$/)
    await until(`background refresh ${i + 1} to fail`, async () => await fetchesFinished(h) === 2 + i)
  }
  t.equal(h.sandbox.requests, 4, 'one background attempt per stale answer, each failing quietly')
})

t.test('/profile/balance has no stale-while-revalidate: an expired balance waits for fresh data', async (t) => {
  const h = await startHarness(t)
  const key = { 'x-api-key': h.keys.profile }
  const first = await h.get('/profile/balance', key)
  h.clock.advance(6_000)
  const res = await h.get('/profile/balance', key)
  t.match(res.headers['cache-status'], /^vobiz-bff; fwd=stale; fwd-status=200; stored; ttl=\d$/, 'fetched, not served stale')
  t.ok(Date.parse(res.json().as_of) > Date.parse(first.json().as_of))
  h.clock.advance(70_000)
  h.sandbox.inject({ kind: 'status', status: 500 })
  const tooOld = await h.get('/profile/balance', key)
  t.equal(tooOld.status, 502, 'past BALANCE_STALE_IF_ERROR_SECONDS the error is passed on')
})

t.test('Cache-Control: only-if-cached never goes upstream', async (t) => {
  const h = await startHarness(t)
  const onlyCached = { 'x-api-key': h.keys.profile, 'cache-control': 'only-if-cached' }
  const cold = await h.get('/profile', onlyCached)
  t.equal(cold.status, 504)
  t.equal(cold.json().code, 'not_cached')
  t.equal(h.sandbox.requests, 0)
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.match((await h.get('/profile', onlyCached)).headers['cache-status'], /; hit; /)
  h.clock.advance(100_000)
  const stale = await h.get('/profile', onlyCached)
  t.equal(stale.status, 200)
  t.match(stale.headers['cache-status'], /^vobiz-bff; hit; ttl=-\d+; detail=only-if-cached$/)
  h.clock.advance(600_000)
  t.equal((await h.get('/profile', onlyCached)).status, 504, 'past every window: not cached')
  t.equal((await h.get('/profile', { ...onlyCached, 'cache-control': 'no-cache, only-if-cached' })).status, 504, 'only-if-cached wins over no-cache')
  t.equal(h.sandbox.requests, 1)
})

t.test('a forced refresh that fails falls back on a still-fresh copy, saying so', async (t) => {
  const h = await startHarness(t)
  const key = { 'x-api-key': h.keys.profile }
  const first = await h.get('/profile', key)
  h.sandbox.inject({ kind: 'status', status: 500 }, 1)
  const res = await h.get('/profile', { ...key, 'cache-control': 'no-cache' })
  t.equal(res.status, 200)
  t.equal(res.text, first.text)
  t.match(res.headers['cache-status'], /^vobiz-bff; hit; ttl=\d+; detail=refresh-failed$/)
})

t.test('one Vobiz 429 makes the whole service hold off for its Retry-After', async (t) => {
  // A Retry-After past the fetch's deadline: no retry, the cool-down starts at once.
  const h = await startHarness(t, { env: { UPSTREAM_TIMEOUT_MS: '1000' } })
  h.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': '20' } }, 1)
  const first = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(first.status, 503)
  const others = await Promise.all(Array.from({ length: 30 }, (_, i) =>
    h.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': i % 3 === 0 ? h.keys.balance : h.keys.profile, 'cache-control': 'no-cache' })))
  t.ok(others.every((r) => [503, 403].includes(r.status)))
  t.ok(others.filter((r) => r.status === 503).every((r) => Number(r.headers['retry-after']) <= 20 && r.json().code === 'upstream_rate_limited'))
  t.equal(h.sandbox.requests, 1, 'no request reached Vobiz during the cool-down')
})

t.test('an outage does not flood the log: a repeated failure is logged once, then once per interval with the count', async (t) => {
  const h = await startHarness(t, { clock: movableClock(t), env: { UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '1', BREAKER_OPEN_SECONDS: '3600', RATE_LIMIT_PER_MINUTE: '100000' } })
  const key = { 'x-api-key': h.keys.profile }
  const failures = () => h.logs.filter((l) => l.component === 'vobiz' && typeof l.msg === 'string' && l.msg.startsWith('vobiz fetch failed'))
  h.sandbox.inject({ kind: 'status', status: 500 })
  t.equal((await h.get('/profile', key)).status, 502)
  for (let i = 0; i < 200; i++) t.equal((await h.get('/profile', key)).json().code, 'upstream_unavailable')
  t.same(failures().map((l) => l.msg), ['vobiz fetch failed: vobiz answered 500', 'vobiz fetch failed: the circuit breaker is open'],
    'the 500, then the first breaker-open rejection: a new failure is logged at once, its 199 repeats are not')

  h.clock.advance(REPEAT_LOG_INTERVAL_MS)
  await h.get('/profile', key)
  t.equal(failures().length, 3, 'one line per interval while it lasts')
  t.match(failures().at(-1), { msg: 'vobiz fetch failed: the circuit breaker is open', repeats: 199 }, 'carrying the repeats not logged')
  await h.get('/profile', key)
  t.equal(failures().length, 3)

  h.sandbox.clearFaults()
  h.clock.advance(3_600_000)
  t.equal((await h.get('/profile', key)).status, 200)
  t.match(h.logs.findLast((l) => l.msg === 'vobiz fetch'), { upstream: { outcome: 'ok' }, repeats: 1 }, 'recovery is logged with the repeats since the last line')
})
