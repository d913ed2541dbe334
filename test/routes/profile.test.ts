import t, { type Test } from 'tap'
import { Value } from 'typebox/value'
import { Balance, Profile } from '../../src/schemas/profile.ts'
import { pino } from 'pino'
import { loggerOptions } from '../../src/app.ts'
import { LogCapture, startHarness, type Harness } from '../helpers/harness.ts'

const DOCUMENTED_FIELDS = ['id', 'name', 'email', 'phone', 'company', 'balance', 'currency', 'gstin', 'gst_status',
  'tds_applicable', 'tds_percentage', 'account_type', 'status', 'created_at', 'updated_at']

/** The access log writes its lines by hand, for speed: each is byte for byte what pino writes for the same call. */
function accessLinesArePinos (t: Test, h: Harness): void {
  const raw = h.rawLogs().split('\n').filter((l) => l.includes('"msg":"request"'))
  for (const [i, line] of h.logs.filter((l) => l.msg === 'request').entries()) {
    const { level, time, service, msg, ...fields } = line
    const capture = new LogCapture()
    pino({ ...loggerOptions({ LOG_LEVEL: 'info' }), timestamp: () => `,"time":${String(time)}` }, capture).info(fields, 'request')
    t.equal(raw[i], capture.chunks.join('').trimEnd(), `line ${i} is pino's`)
  }
}

t.test('GET /profile returns the documented profile, normalised, with freshness headers', async (t) => {
  const h = await startHarness(t)
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 200)
  t.equal(res.headers['content-type'], 'application/json; charset=utf-8')
  const body = res.json()
  t.ok(Value.Check(Profile, body), 'body matches the published Profile schema')
  t.same(Object.keys(body), DOCUMENTED_FIELDS, 'every documented field, in the documented order')
  t.equal(body.id, 'partner-882abc')
  t.equal(body.balance, 48250)
  t.equal(body.currency, 'INR')
  t.equal(body.gst_status, 'active')
  t.equal(body.status, 'active')
  t.equal(res.headers['cache-control'], 'private, max-age=30', 'max-age is the freshness lifetime; Age says how much of it is used')
  t.equal(res.headers.age, '0')
  t.match(res.headers.etag, /^"[A-Za-z0-9_-]{27}"$/)
  t.equal(res.headers['cache-status'], 'vobiz-bff; fwd=miss; fwd-status=200; stored; ttl=30')
  t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('the newer upstream shape is normalised and its extra fields never pass through', async (t) => {
  const h = await startHarness(t, { sandbox: { shape: 'current' } })
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 200)
  const body = res.json()
  t.ok(Value.Check(Profile, body))
  t.equal(body.id, '6f1c2a4e-8b1d-4c3e-9a57-2d0b5e7f9c11')
  t.equal(typeof body.balance, 'number', 'the 5-decimal string balance becomes a JSON number')
  t.equal(body.balance, 48250)
  for (const absent of ['currency', 'gstin', 'gst_status', 'tds_applicable', 'tds_percentage']) {
    t.notOk(absent in body, `${absent} is omitted when Vobiz does not send it`)
  }
  for (const extra of ['auth_id', 'slug', 'is_active', 'can_transfer_balance']) {
    t.notOk(extra in body, `${extra} is not passed through`)
  }
  t.notOk(res.text.includes(h.sandbox.authId), 'the credential\'s public half appears nowhere in the body')

  const balance = await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  t.same(Object.keys(balance.json()), ['partner_id', 'balance', 'as_of'], 'no currency when Vobiz sends none')
})

t.test('GET /profile/balance returns balance, currency and as_of from the same upstream entry', async (t) => {
  const h = await startHarness(t)
  const res = await h.get('/profile/balance', { 'x-api-key': h.keys.balance })
  t.equal(res.status, 200)
  const body = res.json()
  t.ok(Value.Check(Balance, body))
  t.same(Object.keys(body), ['partner_id', 'balance', 'currency', 'as_of'])
  t.equal(body.partner_id, 'partner-882abc')
  t.equal(body.currency, 'INR')
  t.equal(body.as_of, new Date(h.clock.now()).toISOString(), 'as_of is when the data was requested from Vobiz')
  t.equal(res.headers['cache-control'], 'private, max-age=5')

  const profile = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(profile.headers['cache-status'], 'vobiz-bff; hit; ttl=30', 'the profile is served from the entry the balance fetched')
  t.equal(h.sandbox.requests, 1, 'one upstream call served both routes')
})

t.test('API keys and scopes', async (t) => {
  const h = await startHarness(t)
  const missing = await h.get('/profile')
  t.equal(missing.status, 401)
  t.equal(missing.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(missing.json().code, 'missing_api_key')
  t.equal(missing.headers['www-authenticate'], 'ApiKey header="X-API-Key"')

  const wrong = await h.get('/profile/balance', { 'x-api-key': 'not-a-key' })
  t.equal(wrong.status, 401)
  t.equal(wrong.json().code, 'invalid_api_key')

  const huge = await h.get('/profile', { 'x-api-key': 'k'.repeat(4000) })
  t.equal(huge.json().code, 'invalid_api_key', 'an oversized key is rejected as unknown')

  const balanceOnly = await h.get('/profile', { 'x-api-key': h.keys.balance })
  t.equal(balanceOnly.status, 403)
  t.equal(balanceOnly.json().code, 'insufficient_scope')
  t.match(balanceOnly.json().detail, /profile:read/)

  const balanceAllowed = await h.get('/profile/balance', { 'x-api-key': h.keys.balance })
  t.equal(balanceAllowed.status, 200, 'balance:read reads /profile/balance')
  const profileAllowed = await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  t.equal(profileAllowed.status, 200, 'profile:read reads /profile/balance too')
  t.equal(h.sandbox.requests, 1, 'rejected requests never reach Vobiz')
})

t.test('200 concurrent cold requests across both routes cause exactly one upstream request', async (t) => {
  const h = await startHarness(t)
  // Vobiz holds the one fetch until all 200 requests are inside the service.
  h.sandbox.hold()
  const pending = Promise.all(Array.from({ length: 200 }, (_, i) =>
    h.get(i % 2 === 0 ? '/profile' : '/profile/balance', { 'x-api-key': h.keys.profile })))
  await Promise.all([h.arrived(200), h.sandbox.received(1)])
  h.sandbox.release()
  const replies = await pending
  t.equal(h.sandbox.requests, 1)
  t.ok(replies.every((r) => r.status === 200), 'all 200')
  const statuses = replies.map((r) => r.headers['cache-status'])
  t.equal(statuses.filter((s) => s?.includes('stored')).length, 1, 'one request fetched')
  t.equal(statuses.filter((s) => s?.includes('collapsed')).length, 199, 'the rest waited on that fetch')
  t.equal(new Set(replies.filter((_, i) => i % 2 === 0).map((r) => r.headers.etag)).size, 1, 'everyone saw the same data')
})

t.test('each route has its own freshness: an expired balance refetches while the profile stays a hit', async (t) => {
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', PROFILE_TTL_SECONDS: '60' } })
  const first = await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  t.equal(first.headers['cache-status'], 'vobiz-bff; fwd=miss; fwd-status=200; stored; ttl=1')
  const again = await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  t.match(again.headers['cache-status'], /; hit; /)
  t.equal(h.sandbox.requests, 1)

  h.clock.advance(1000)
  const profile = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(profile.headers['cache-status'], 'vobiz-bff; hit; ttl=59', 'the profile is still fresh after a second')
  t.equal(profile.headers.age, '1')
  t.equal(h.sandbox.requests, 1)

  const expired = await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  t.equal(expired.headers['cache-status'], 'vobiz-bff; fwd=stale; fwd-status=200; stored; ttl=1')
  t.equal(h.sandbox.requests, 2, 'the balance expired after BALANCE_TTL_SECONDS and was fetched again')
  t.equal(Date.parse(expired.json().as_of) - Date.parse(first.json().as_of), 1000, 'as_of moved forward')
  t.equal(expired.headers.age, '0')
})

t.test('Cache-Control: no-cache or max-age=0 gets data fetched after the request arrived', async (t) => {
  const h = await startHarness(t)
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(h.sandbox.requests, 1)

  for (const directive of ['no-cache', 'max-age=0', 'public, MAX-AGE=0']) {
    const before = h.sandbox.requests
    const res = await h.get('/profile/balance', { 'x-api-key': h.keys.profile, 'cache-control': directive })
    t.equal(res.status, 200)
    t.equal(res.headers['cache-status'], 'vobiz-bff; fwd=request; fwd-status=200; stored; ttl=5', directive)
    t.equal(h.sandbox.requests, before + 1, `${directive} went upstream`)
  }
  const ordinary = await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'max-age=10' })
  t.match(ordinary.headers['cache-status'], /; hit; /, 'other directives do not force a refresh')
})

t.test('concurrent refreshes coalesce, and a refresh never joins a fetch that began before it arrived', async (t) => {
  const h = await startHarness(t)
  // A cold fetch is in flight (Vobiz holds it) when the refreshes arrive, a millisecond after it began.
  h.sandbox.hold()
  const cold = h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.sandbox.received(1)
  const coldStarted = h.clock.now()
  h.clock.advance(1)
  const arrived = h.arrived(h.requests + 20)
  const pending = Promise.all(Array.from({ length: 20 }, () =>
    h.get('/profile/balance', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })))
  await arrived
  h.sandbox.release()
  const [coldReply, refreshes] = await Promise.all([cold, pending])
  t.equal(coldReply.status, 200)
  t.equal(h.sandbox.requests, 2, 'the cold fetch, then one refresh shared by all 20')
  t.ok(refreshes.every((r) => r.status === 200))
  t.same([...new Set(refreshes.map((r) => r.json().as_of))], [new Date(coldStarted + 1).toISOString()], 'every refresh got data fetched after it arrived')
})

t.test('If-None-Match answers 304 with the freshness headers and no body', async (t) => {
  const h = await startHarness(t)
  const first = await h.get('/profile', { 'x-api-key': h.keys.profile })
  const etag = first.headers.etag as string
  for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
    const res = await h.get('/profile', { 'x-api-key': h.keys.profile, 'if-none-match': header })
    t.equal(res.status, 304, header)
    t.equal(res.text, '')
    t.equal(res.headers.etag, etag)
    t.match(res.headers['cache-status'], /; hit; /)
    t.notOk('content-type' in res.headers, 'RFC 9110 §15.4.5: no Content-Type on a 304')
    t.notOk('content-length' in res.headers)
  }
  const head304 = await fetch(`${h.url}/profile`, { method: 'HEAD', headers: { 'x-api-key': h.keys.profile, 'if-none-match': etag } })
  t.equal(head304.status, 304)
  t.equal(head304.headers.get('content-length'), null, 'HEAD\'s 304 is the same as GET\'s: no Content-Length')
  t.equal(head304.headers.get('content-type'), null)
  const changed = await h.get('/profile', { 'x-api-key': h.keys.profile, 'if-none-match': '"other"' })
  t.equal(changed.status, 200)
  const unauthorised = await h.get('/profile', { 'if-none-match': etag })
  t.equal(unauthorised.status, 401, 'a conditional request still needs a key')
})

t.test('If-Match (RFC 9110 §13.1.1): a current ETag or * proceeds; anything else is 412, evaluated before If-None-Match', async (t) => {
  const h = await startHarness(t)
  const key = { 'x-api-key': h.keys.profile }
  const etag = (await h.get('/profile', key)).headers.etag as string
  for (const ifMatch of [etag, '*', `"other", ${etag}`]) t.equal((await h.get('/profile', { ...key, 'if-match': ifMatch })).status, 200, ifMatch)
  for (const ifMatch of ['"other"', `W/${etag}`]) {
    const failed = await h.get('/profile', { ...key, 'if-match': ifMatch })
    t.equal(failed.status, 412, `${ifMatch}: weak tags never match If-Match`)
    t.match(failed.json(), { code: 'precondition_failed', status: 412 })
    t.equal(failed.headers['content-type'], 'application/problem+json; charset=utf-8')
  }
  t.equal((await h.get('/profile', { ...key, 'if-match': '"other"', 'if-none-match': etag })).status, 412, 'If-Match is evaluated first')
  t.equal((await h.get('/profile', { ...key, 'if-match': etag, 'if-none-match': etag })).status, 304)
})

t.test('the profile ETag survives refetches of unchanged data', async (t) => {
  const h = await startHarness(t, { sandbox: { now: () => Date.parse('2026-01-01T00:00:00Z') } })
  const first = await h.get('/profile', { 'x-api-key': h.keys.profile })
  const refreshed = await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
  t.equal(h.sandbox.requests, 2)
  t.equal(refreshed.headers.etag, first.headers.etag)
})

t.test('HEAD is served like GET without a body; other methods and paths are problem+json', async (t) => {
  const h = await startHarness(t)
  const head = await fetch(`${h.url}/profile`, { method: 'HEAD', headers: { 'x-api-key': h.keys.profile } })
  t.equal(head.status, 200)
  t.equal(await head.text(), '')
  t.ok(head.headers.get('etag'))
  const get = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(head.headers.get('content-length'), String(Buffer.byteLength(get.text)), 'HEAD gives the length GET would send')
  t.equal(head.headers.get('content-type'), get.headers['content-type'])

  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const wrong = await fetch(`${h.url}/profile/balance?x=1`, { method, headers: { 'x-api-key': h.keys.profile } })
    t.equal(wrong.status, 405, method)
    t.equal(wrong.headers.get('allow'), 'GET, HEAD')
    // OPTIONS is left to CORS preflights, so it is answered before identification.
    if (method !== 'OPTIONS') t.match(wrong.headers.get('ratelimit'), /^"default";r=\d+;t=\d+$/, `${method}: counted against the caller's rate limit like any request`)
    t.equal(wrong.headers.get('content-type'), 'application/problem+json; charset=utf-8')
    t.equal(((await wrong.json()) as { code: string }).code, 'method_not_allowed')
  }
  t.equal((await fetch(`${h.url}/profile/nope`, { method: 'POST' })).status, 404, 'unknown paths stay 404 whatever the method')
  const missing = await h.get('/nope?x=1')
  t.equal(missing.status, 404)
  t.same(Object.keys(missing.json()), ['type', 'title', 'status', 'detail', 'code', 'request_id'])
  t.equal(missing.json().code, 'not_found')
})

t.test('a sane X-Request-Id is kept and echoed; anything else is replaced', async (t) => {
  const h = await startHarness(t)
  const kept = await h.get('/profile', { 'x-request-id': 'checkout-42.a:b_c' })
  t.equal(kept.headers['x-request-id'], 'checkout-42.a:b_c')
  t.equal(kept.json().request_id, 'checkout-42.a:b_c')
  const replaced = await h.get('/profile', { 'x-request-id': 'bad id with spaces' })
  t.match(replaced.headers['x-request-id'], /^[0-9a-f-]{36}$/)
  const line = h.logs.find((l) => l.msg === 'request' && l.reqId === 'checkout-42.a:b_c')
  t.ok(line, 'the request id is in the access log line')
})

t.test('ACCESS_LOG=false drops the per-request line only', async (t) => {
  const h = await startHarness(t, { env: { ACCESS_LOG: 'false' } })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(h.logs.filter((l) => l.msg === 'request').length, 0)
  t.ok(h.logs.some((l) => l.msg === 'vobiz fetch'), 'the upstream fetch is still logged')
})

t.test('one access log line per request, with route, status, consumer and cache outcome, and no key', async (t) => {
  const h = await startHarness(t)
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.get('/profile/balance', { 'x-api-key': h.keys.balance })
  const lines = h.logs.filter((l) => l.msg === 'request')
  t.equal(lines.length, 2)
  t.match(lines[0], { method: 'GET', route: '/profile', status: 200, consumer: 'reader', cache: /fwd=miss/ })
  t.match(lines[1], { route: '/profile/balance', consumer: 'billing', cache: /hit/ })
  t.ok(typeof lines[0]?.ms === 'number')
  accessLinesArePinos(t, h)
  t.notOk(h.rawLogs().includes(h.keys.profile), 'keys never reach the logs')
  t.notOk(h.rawLogs().includes(h.sandbox.authToken), 'the Vobiz token never reaches the logs')
  t.ok(h.logs.some((l) => l.msg === 'vobiz fetch'), 'the upstream fetch is logged')
})

t.test('unusable upstream fields are omitted from the profile and logged as a warning', async (t) => {
  const h = await startHarness(t)
  h.sandbox.inject({ kind: 'body', body: { ...h.sandbox.profile(), status: 'pending', tds_percentage: 'lots' } })
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 200)
  t.notOk('status' in res.json())
  t.notOk('tds_percentage' in res.json())
  t.match(h.logs.find((l) => l.level === 40), { dropped: ['tds_percentage', 'status'], msg: /omitted/ })
})

t.test('a field Vobiz keeps sending unusable (or holding a secret) is logged once, not on every poll; again when the set changes and when it is usable again; counted on every fetch', async (t) => {
  const h = await startHarness(t)
  const poll = async (times: number): Promise<void> => {
    for (let i = 0; i < times; i++) t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })).status, 200)
  }
  const lines = (pattern: RegExp) => h.logs.filter((l) => pattern.test(String(l.msg)))
  h.sandbox.update({ status: 'pending', name: `Acme ${h.sandbox.authToken}` })
  await poll(10)
  t.equal(h.sandbox.requests, 10, 'ten fetches')
  t.same(lines(/unusable values/).map((l) => [l.level, l.dropped]), [[40, ['status']]], 'the unusable status: one line for ten polls')
  t.same(lines(/configured secret/).map((l) => [l.level, l.withheld]), [[50, ['name']]], 'the withheld name: one line for ten polls')
  const metrics = await h.app.metrics.registry.metrics()
  t.match(metrics, /vobiz_bff_upstream_fields_withheld_total\{field="status",reason="unusable"\} 10/)
  t.match(metrics, /vobiz_bff_upstream_fields_withheld_total\{field="name",reason="secret"\} 10/)

  h.sandbox.update({ gst_status: 'maybe' })
  await poll(3)
  t.same(lines(/unusable values/).map((l) => l.dropped), [['status'], ['gst_status', 'status']], 'another field: the new set, once')
  h.sandbox.update({ status: 'active', gst_status: 'active', name: 'Acme' })
  await poll(3)
  t.same(lines(/unusable values/).map((l) => l.level), [40, 40, 30], 'usable again: one line saying so')
  t.same(lines(/configured secret/).map((l) => l.level), [50, 30])
  t.notOk(h.rawLogs().includes(h.sandbox.authToken))
})

t.test('access lines of refusals (401, 403, 429) carry the client address; other lines do not', async (t) => {
  const h = await startHarness(t, { env: { RATE_LIMIT_PER_MINUTE: '1' } })
  await h.get('/profile', { 'x-api-key': 'not-a-key' })
  await h.get('/profile', { 'x-api-key': h.keys.balance })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  const lines = h.logs.filter((l) => l.msg === 'request')
  t.same(lines.map((l) => [l.status, l.client]), [[401, '127.0.0.1'], [403, '127.0.0.1'], [200, undefined], [429, '127.0.0.1']])
  accessLinesArePinos(t, h)
})
