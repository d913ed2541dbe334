import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { httpGet, startHarness } from '../helpers/harness.ts'
import { until } from '../helpers/time.ts'

const TOKEN = 'metrics-token-0123456789abcdef'

t.test('liveness and readiness: no key, no rate limit, and readiness reports the upstream without failing on it', async (t) => {
  const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '1', UPSTREAM_RETRIES: '0' } })
  for (let i = 0; i < 3; i++) {
    const live = await h.get('/health/live')
    t.equal(live.status, 200)
    t.same(live.json(), { status: 'ok' })
    t.notOk('ratelimit' in live.headers, 'probes are not rate-limited')
  }
  const cold = await h.get('/health/ready')
  t.equal(cold.status, 200)
  t.same(cold.json(), { status: 'ready', upstream: { breaker: 'closed', last_success_at: null, last_error: null, cooling_down_until: null, cool_down_remaining_seconds: 0, credentials: 'unknown' }, redis: null })

  await h.get('/profile', { 'x-api-key': h.keys.profile })
  h.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, 1)
  h.clock.advance(5_000)
  await h.get('/profile/balance', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
  const ready = await h.get('/health/ready')
  t.equal(ready.status, 200, 'Vobiz trouble does not make the service unready')
  t.match(ready.json().upstream, { breaker: 'closed', last_success_at: String, last_error: { code: 'upstream_rate_limited', at: String }, cooling_down_until: String, cool_down_remaining_seconds: 30, credentials: 'accepted' })
  t.equal(ready.headers['cache-control'], 'no-store')
  h.clock.advance(12_500)
  t.equal((await h.get('/health/ready')).json().upstream.cool_down_remaining_seconds, 18, 'counting down (whole seconds, rounded up)')
  h.clock.advance(17_500)
  t.equal((await h.get('/health/ready')).json().upstream.cooling_down_until, null, 'the cool-down is over after Retry-After')
})

t.test('one Vobiz 429 with a huge Retry-After holds the service off for UPSTREAM_MAX_RETRY_AFTER_SECONDS at most', async (t) => {
  const h = await startHarness(t, { env: { UPSTREAM_RETRIES: '0', UPSTREAM_MAX_RETRY_AFTER_SECONDS: '120' } })
  const key = { 'x-api-key': h.keys.profile }
  h.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': '999999' } }, 1)
  const limited = await h.get('/profile', key)
  t.equal(limited.status, 503)
  t.equal(limited.headers['retry-after'], '120')
  t.equal((await h.get('/health/ready')).json().upstream.cool_down_remaining_seconds, 120)
  h.clock.advance(119_000)
  t.equal((await h.get('/profile', key)).headers['retry-after'], '1', 'still holding off, one second left')
  t.equal(h.sandbox.requests, 1)
  h.clock.advance(1_000)
  t.equal((await h.get('/profile', key)).status, 200, 'Vobiz is asked again after 120 s, not after 999999 s')
  t.equal(h.sandbox.requests, 2)
})

t.test('once shutdown begins, readiness (like every request) answers 503 while in-flight requests complete', async (t) => {
  const h = await startHarness(t)
  // One connection: a request Vobiz holds, then — pipelined once close() has begun — a readiness probe.
  h.sandbox.hold()
  const socket = connect(Number(new URL(h.url).port), '127.0.0.1')
  await once(socket, 'connect')
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  const ended = once(socket, 'close')
  socket.write(`GET /profile HTTP/1.1\r\nHost: x\r\nX-API-Key: ${h.keys.profile}\r\n\r\n`)
  await h.sandbox.received(1)
  const closing = h.app.close()
  await until('the server to stop listening', () => !h.app.server.listening)
  socket.write('GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n')
  h.sandbox.release()
  await ended
  const [first, second] = answer.split(/(?=HTTP\/1\.1 )/)
  t.match(first, /^HTTP\/1\.1 200 /, 'the in-flight request completed')
  t.match(second, /^HTTP\/1\.1 503 [^]*\r\nconnection: close\r\n/i, 'readiness is 503 once shutdown has begun, and the connection closes')
  const [head = '', body = ''] = (second ?? '').split('\r\n\r\n')
  const headers = Object.fromEntries(head.split('\r\n').slice(1).map((line) => line.split(': ') as [string, string]).map(([k, v]) => [k.toLowerCase(), v]))
  t.match(headers, { 'content-type': 'application/problem+json', 'retry-after': '1', 'x-content-type-options': 'nosniff', 'x-request-id': String }, 'problem+json with Retry-After and the security headers')
  t.match(JSON.parse(body), { status: 503, code: 'service_unavailable', detail: /shutting down/, request_id: headers['x-request-id'] })
  await closing
})

t.test('/metrics needs the bearer token and exposes the service metrics', async (t) => {
  const h = await startHarness(t, { env: { METRICS_TOKEN: TOKEN, RATE_LIMIT_PER_MINUTE: '2', REFRESH_PER_MINUTE: '1', UPSTREAM_RETRIES: '1' } })
  const none = await httpGet(`${h.url}/metrics`)
  t.equal(none.status, 401)
  t.match(none.json(), { code: 'missing_token' })
  t.equal(none.headers['www-authenticate'], 'Bearer realm="metrics"')
  const wrong = await httpGet(`${h.url}/metrics`, { authorization: 'Bearer wrong' })
  t.equal(wrong.status, 401)
  t.match(wrong.json(), { code: 'invalid_token' }, 'a wrong token is not a missing one (RFC 6750 §3.1)')
  t.equal(wrong.headers['www-authenticate'], 'Bearer realm="metrics", error="invalid_token"')

  h.sandbox.inject({ kind: 'status', status: 503 }, 1)
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.get('/profile/balance', { 'x-api-key': h.keys.balance, 'cache-control': 'no-cache' })
  await h.get('/profile/balance', { 'x-api-key': h.keys.balance, 'cache-control': 'no-cache' })

  const res = await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${TOKEN}` })
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const text = res.text
  t.match(text, /http_request_duration_seconds_count\{method="GET",route="\/profile",status="200"\} 2/)
  t.match(text, /http_request_duration_seconds_count\{method="GET",route="\/profile",status="429"\} 1/)
  t.match(text, /vobiz_bff_cache_outcomes_total\{route="\/profile",outcome="miss",detail=""\} 1/)
  t.match(text, /vobiz_bff_cache_outcomes_total\{route="\/profile",outcome="hit",detail=""\} 1/)
  t.match(text, /vobiz_bff_cache_outcomes_total\{route="\/profile\/balance",outcome="refresh",detail=""\} 1/)
  t.match(text, /vobiz_bff_refresh_refused_total\{route="\/profile\/balance"\} 1/)
  t.match(text, /vobiz_bff_upstream_fetch_duration_seconds_count\{outcome="ok"\} 2/)
  t.match(text, /vobiz_bff_upstream_attempts_total 3/)
  t.match(text, /vobiz_bff_upstream_retries_total 1/)
  t.match(text, /vobiz_bff_breaker_state 0/)
  t.match(text, /vobiz_bff_rate_limit_rejections_total\{consumer="reader"\} 1/)
  t.match(text, /process_cpu_user_seconds_total/, 'default process metrics')
  t.notMatch(text, new RegExp(`${h.keys.profile}|${h.sandbox.authToken}|${TOKEN}`), 'no secret in the metrics')
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (match[2] !== 'counter') t.notMatch(match[1], /_total$/, `${match[1]} is a ${match[2]}: no _total suffix`)
  }

  const open = await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${TOKEN}`, accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' })
  t.match(open.headers['content-type'], /^application\/openmetrics-text; version=1\.0\.0/, 'OpenMetrics when the scraper asks for it')
  t.match(open.text, /# EOF\n$/)
  t.match(open.text, /vobiz_bff_upstream_attempts_total 3/)
})

t.test('without METRICS_TOKEN there is no /metrics', async (t) => {
  const h = await startHarness(t)
  t.equal((await httpGet(`${h.url}/metrics`, { authorization: 'Bearer anything-at-all-16' })).status, 404)
})

t.test('the request id is forwarded to Vobiz with the fetch it started', async (t) => {
  const h = await startHarness(t)
  await h.get('/profile', { 'x-api-key': h.keys.profile, 'x-request-id': 'trace-abc.123' })
  t.equal(h.sandbox.recorded.at(-1)?.headers['x-request-id'], 'trace-abc.123')
  t.match(h.logs.filter((l) => l.reqId === 'trace-abc.123').map((l) => l.msg), ['vobiz fetch', 'request'], 'the fetch line carries the id of the request that started it')
})

t.test('load shedding: past a limit, 503 problem+json with Retry-After; probes still answer', async (t) => {
  // Any heap is over a 1-byte limit: once under-pressure has taken its first sample, the service is overloaded.
  // (Blocking the event loop instead would race the next sample, which clears the pressure again.)
  const h = await startHarness(t, { env: { MAX_HEAP_USED_BYTES: '1', METRICS_TOKEN: TOKEN }, deps: { pressureSampleIntervalMs: 10 } })
  await until('under-pressure\'s first sample', () => h.app.memoryUsage().heapUsed > 0)
  const shed = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(shed.status, 503)
  t.match(shed.json(), { code: 'service_unavailable', detail: /overloaded/ })
  t.equal(shed.headers['retry-after'], '5')
  t.equal((await h.get('/health/live')).status, 200, 'liveness is exempt')
  t.equal((await h.get('/health/ready')).status, 200, 'readiness is exempt')
  t.equal((await h.get('/profile/balance', { 'x-api-key': h.keys.profile })).status, 503)
  // The scrape is shed too (it is not a probe), and counted like the rest.
  const scrape = await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${TOKEN}` })
  t.equal(scrape.status, 503)
  t.same((await h.app.metrics.requestsShed.get()).values.map(({ labels, value }) => [labels, value]), [[{ reason: 'heap' }, 3]], 'each request shed is counted by its reason; the probes are not')
})

t.test('business metrics: the balance, the account facts and how old they are, from the profile served now', async (t) => {
  const h = await startHarness(t, { env: { METRICS_TOKEN: TOKEN } })
  const scrape = async (): Promise<string> => (await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${TOKEN}` })).text
  const cold = await scrape()
  t.notMatch(cold, /^vobiz_partner_balance\{/m, 'no balance before the first fetch: absent, not 0')
  t.notMatch(cold, /^vobiz_bff_profile_age_seconds /m)
  t.notMatch(cold, /^vobiz_bff_upstream_last_success_timestamp_seconds /m)
  const profile = (await h.get('/profile', { 'x-api-key': h.keys.profile })).json()
  h.clock.advance(12_000)
  const text = await scrape()
  t.match(text, new RegExp(`^vobiz_partner_balance\\{currency="${String(profile.currency)}"\\} ${String(profile.balance)}$`, 'm'))
  t.match(text, new RegExp(`^vobiz_partner_info\\{status="${String(profile.status)}",gst_status="${String(profile.gst_status)}",account_type="${String(profile.account_type)}"\\} 1$`, 'm'))
  t.match(text, /^vobiz_bff_profile_age_seconds 12$/m)
  t.match(text, new RegExp(`^vobiz_bff_upstream_last_success_timestamp_seconds ${(h.clock.now() - 12_000) / 1000}$`, 'm'))
})

t.test('at start the profile is fetched once in the background: the first consumer gets a hit', async (t) => {
  const h = await startHarness(t, { env: { STARTUP_FETCH: 'true' } })
  await h.sandbox.received(1)
  await until('the start-up fetch to be cached', async () => (await h.get('/health/ready')).json().upstream.last_success_at !== null)
  const first = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.match(first.headers['cache-status'], /^vobiz-bff; hit; /)
  t.equal(h.sandbox.requests, 1)
})

t.test('readiness: 503 credentials_rejected while Vobiz rejects the credentials of a replica that never fetched; 200 when Vobiz is down', async (t) => {
  const rejected = await startHarness(t, { env: { STARTUP_FETCH: 'true', VOBIZ_AUTH_TOKEN: 'not-the-partner-token' } })
  await until('the start-up fetch to be refused', async () => (await rejected.get('/health/ready')).status === 503)
  const unready = await rejected.get('/health/ready')
  t.match(unready.json(), { status: 'unready', reason: 'credentials_rejected', upstream: { credentials: 'rejected', last_success_at: null, last_error: { code: 'upstream_auth_failed' } } })
  t.match(unready.headers['content-type'], /^application\/json/)
  t.equal(unready.headers['cache-control'], 'no-store')
  t.equal((await rejected.get('/health/live')).status, 200, 'alive all the same: restarting would not help')

  const down = await startHarness(t, { env: { STARTUP_FETCH: 'true', UPSTREAM_RETRIES: '0' } })
  down.sandbox.inject({ kind: 'status', status: 503 })
  await until('the start-up fetch to fail', async () => (await down.get('/health/ready')).json().upstream.last_error !== null)
  const ready = await down.get('/health/ready')
  t.equal(ready.status, 200, 'an outage is not the replica\'s fault')
  t.equal(ready.json().upstream.credentials, 'unknown')
})

t.test('readiness stays 200 when credentials are rejected after a success (stale copies still serve)', async (t) => {
  const h = await startHarness(t, { env: { UPSTREAM_RETRIES: '0' } })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  h.sandbox.inject({ kind: 'status', status: 401 })
  h.clock.advance(40_000)
  await h.get('/profile/balance', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
  const ready = await h.get('/health/ready')
  t.equal(ready.status, 200)
  t.equal(ready.json().upstream.credentials, 'rejected')
})
