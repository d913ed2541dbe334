import t from 'tap'
import type { Fault } from '../../src/sandbox/sandbox.ts'
import { startHarness } from '../helpers/harness.ts'

/**
 * Every upstream failure, seen by a consumer: status, problem code, headers, and that nothing from the
 * upstream error (which may echo credentials) reaches the consumer.
 */
interface Case {
  name: string
  fault: Fault
  status: number
  code: string
  retryAfter?: string
}

const cases: Case[] = [
  { name: 'timeout before headers', fault: { kind: 'delay', ms: 60_000 }, status: 504, code: 'upstream_timeout' },
  { name: 'headers then a stalled body', fault: { kind: 'stall-body', ms: 60_000 }, status: 504, code: 'upstream_timeout' },
  { name: 'connection reset before headers', fault: { kind: 'reset', when: 'before-headers' }, status: 502, code: 'upstream_unavailable' },
  { name: 'connection reset mid-body', fault: { kind: 'reset', when: 'mid-body' }, status: 502, code: 'upstream_unavailable' },
  { name: '500', fault: { kind: 'status', status: 500 }, status: 502, code: 'upstream_unavailable' },
  { name: '502', fault: { kind: 'status', status: 502 }, status: 502, code: 'upstream_unavailable' },
  { name: '503', fault: { kind: 'status', status: 503 }, status: 502, code: 'upstream_unavailable' },
  { name: '504', fault: { kind: 'status', status: 504 }, status: 502, code: 'upstream_unavailable' },
  { name: 'unexpected 404 (wrong base URL)', fault: { kind: 'status', status: 404 }, status: 502, code: 'upstream_unavailable' },
  { name: '401 nested error body', fault: { kind: 'status', status: 401, form: 'nested' }, status: 502, code: 'upstream_auth_failed' },
  { name: '401 flat error body', fault: { kind: 'status', status: 401, form: 'flat' }, status: 502, code: 'upstream_auth_failed' },
  { name: '403 Plivo-style error body', fault: { kind: 'status', status: 403, form: 'plivo' }, status: 502, code: 'upstream_auth_failed' },
  { name: 'malformed JSON', fault: { kind: 'malformed' }, status: 502, code: 'upstream_invalid_response' },
  { name: 'JSON that is not a profile', fault: { kind: 'body', body: [1, 2, 3] }, status: 502, code: 'upstream_invalid_response' },
  { name: 'profile without an id', fault: { kind: 'body', body: { balance: 10, name: 'x' } }, status: 502, code: 'upstream_invalid_response' },
  { name: 'profile with a non-numeric balance', fault: { kind: 'body', body: { id: 'p-1', balance: 'lots' } }, status: 502, code: 'upstream_invalid_response' },
  { name: 'body over the size cap', fault: { kind: 'oversize', bytes: 70_000 }, status: 502, code: 'upstream_invalid_response' },
  { name: 'chunked body over the size cap', fault: { kind: 'oversize', bytes: 70_000, chunked: true }, status: 502, code: 'upstream_invalid_response' }
]

t.test('upstream failures map to problem+json', async (t) => {
  // One attempt per fetch here: retries are the fault matrix's subject (test/resilience).
  const h = await startHarness(t, { env: { UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '1000' } })
  for (const c of cases) {
    await t.test(c.name, async (t) => {
      h.sandbox.clearFaults().inject(c.fault, 1)
      const before = h.sandbox.requests
      const res = await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
      t.equal(res.status, c.status)
      t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
      t.equal(res.headers['cache-control'], 'no-store')
      const body = res.json()
      t.same(Object.keys(body), ['type', 'title', 'status', 'detail', 'code', 'request_id'])
      t.equal(body.code, c.code)
      t.equal(body.status, c.status)
      t.equal(body.type, `urn:vobiz-bff:problem:${c.code}`)
      t.equal(body.request_id, res.headers['x-request-id'])
      if (c.retryAfter === undefined) t.notOk('retry-after' in res.headers)
      else t.ok(Math.abs(Number(res.headers['retry-after']) - Number(c.retryAfter)) <= 1, `Retry-After ${res.headers['retry-after']}`)
      t.notOk(/Injected|INVALID|HTTP_\d/.test(res.text), 'no upstream error text reaches the consumer')
      t.equal(h.sandbox.requests, before + 1, 'exactly one upstream attempt (UPSTREAM_RETRIES=0)')
    })
  }
  h.sandbox.clearFaults()
  const recovered = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(recovered.status, 200, 'the service recovers once the fault clears')
  t.notOk(h.rawLogs().includes(h.sandbox.authToken), 'the Vobiz token never reaches the logs')
  t.notOk(h.rawLogs().includes(h.keys.profile), 'the consumer key never reaches the logs')
  const authLine = h.logs.find((l) => l.level === 50 && String(l.msg).includes('rejected the partner credentials'))
  t.equal(authLine?.msg, 'vobiz rejected the partner credentials: check VOBIZ_AUTH_ID / VOBIZ_AUTH_TOKEN', 'the variables the operator set')
  t.ok(authLine, 'an upstream 401/403 is logged at error level for operators')
  t.match(authLine, { upstream: { outcome: 'upstream_auth_failed', status: 401, upstreamCode: 'HTTP_401' } })
})

t.test('an upstream 429 maps to 503 upstream_rate_limited with the Retry-After Vobiz gave', async (t) => {
  const h = await startHarness(t, { env: { UPSTREAM_RETRIES: '0' } })
  h.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': new Date(Date.now() + 120_000).toUTCString() } }, 1)
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 503)
  t.match(res.json(), { code: 'upstream_rate_limited', detail: /Retry-After/ })
  t.ok(Math.abs(Number(res.headers['retry-after']) - 120) <= 1, `Retry-After ${res.headers['retry-after']}`)
})

t.test('connection refused maps to 502 upstream_unavailable', async (t) => {
  const h = await startHarness(t)
  await h.sandbox.close()
  const res = await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 502)
  t.equal(res.json().code, 'upstream_unavailable')
  const line = h.logs.find((l) => /^vobiz fetch failed: connection failed: .*ECONNREFUSED/.test(String(l.msg)))
  t.ok(line, 'the cause is logged')
})

t.test('wrong credentials held by the service map to upstream_auth_failed, never retried', async (t) => {
  const h = await startHarness(t, { env: { VOBIZ_AUTH_TOKEN: 'not-the-token' } })
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(res.status, 502)
  t.equal(res.json().code, 'upstream_auth_failed')
  t.equal(h.sandbox.requests, 1)
  t.match(h.logs.find((l) => l.level === 50), { upstream: { upstreamCode: 'INVALID_CREDENTIALS' } })
})

t.test('concurrent requests during a failure share the one failed fetch', async (t) => {
  const h = await startHarness(t, { env: { UPSTREAM_RETRIES: '0' } })
  // Vobiz holds the failing fetch until all 50 requests are inside the service.
  h.sandbox.hold().inject({ kind: 'status', status: 500 })
  const pending = Promise.all(Array.from({ length: 50 }, () => h.get('/profile', { 'x-api-key': h.keys.profile })))
  await Promise.all([h.arrived(50), h.sandbox.received(1)])
  h.sandbox.release()
  const replies = await pending
  t.ok(replies.every((r) => r.status === 502 && r.json().code === 'upstream_unavailable'))
  t.equal(h.sandbox.requests, 1)
})
