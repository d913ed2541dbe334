import t, { type Test } from 'tap'
import { startSandbox, type Fault } from '../../src/sandbox/sandbox.ts'
import { parseRetryAfter, upstreamErrorCode, VobizClient } from '../../src/vobiz/client.ts'

const never = new AbortController().signal

async function setup (t: Test, options: { basePath?: string } = {}) {
  const sandbox = await startSandbox()
  const client = new VobizClient({
    baseUrl: sandbox.url + (options.basePath ?? ''),
    authId: sandbox.authId,
    authToken: sandbox.authToken,
    attemptTimeoutMs: 1000,
    maxBodyBytes: 4096,
    maxRetryAfterSeconds: 120
  })
  t.teardown(async () => {
    await client.close()
    await sandbox.close()
  })
  const get = (timeoutMs = 1000, signal = never) => client.attempt(signal, timeoutMs)
  return { sandbox, client, get }
}

t.test('sends the credentials and Accept header to /api/v1/partner/me and returns the JSON', async (t) => {
  const { sandbox, get } = await setup(t)
  const body = await get() as Record<string, unknown>
  t.equal(body.id, 'partner-882abc')
  const seen = sandbox.recorded[0]
  t.equal(seen?.url, '/api/v1/partner/me')
  t.equal(seen?.headers['x-auth-id'], sandbox.authId)
  t.equal(seen?.headers['x-auth-token'], sandbox.authToken)
  t.equal(seen?.headers.accept, 'application/json')
})

t.test('a base URL with a path prefix is kept (for egress proxies)', async (t) => {
  const { sandbox, get } = await setup(t, { basePath: '/vobiz/' })
  await t.rejects(get(), { code: 'upstream_unavailable', upstreamStatus: 404, retryable: false })
  t.equal(sandbox.recorded[0]?.url, '/vobiz/api/v1/partner/me')
})

t.test('keeps the connection alive between fetches', async (t) => {
  const { sandbox, get } = await setup(t)
  await get()
  await get()
  t.equal(sandbox.recorded.length, 2)
  t.equal(sandbox.recorded[1]?.headers.connection, 'keep-alive')
})

t.test('a declared Content-Length over the cap is refused without reading the body', async (t) => {
  const { sandbox, get } = await setup(t)
  sandbox.inject({ kind: 'oversize', bytes: 10_000 }, 1)
  await t.rejects(get(), { code: 'upstream_invalid_response', message: /exceeds the 4096-byte cap/, retryable: false })
})

t.test('a chunked body is cut off once it passes the cap', async (t) => {
  const { sandbox, get } = await setup(t)
  sandbox.inject({ kind: 'oversize', bytes: 100_000, chunked: true }, 1)
  await t.rejects(get(), { code: 'upstream_invalid_response', message: /body exceeds the 4096-byte cap/ })
  t.ok(await get(), 'the client is usable afterwards')
})

t.test('a caller abort ends the fetch early', async (t) => {
  const { sandbox, get } = await setup(t)
  // Vobiz never answers: the fetch can only end because of the abort.
  sandbox.hold()
  const controller = new AbortController()
  const fetching = get(60_000, controller.signal)
  await sandbox.received(1)
  controller.abort()
  await t.rejects(fetching, { code: 'upstream_unavailable', message: 'fetch aborted' })
})

t.test('the attempt timeout covers the whole attempt; only a timeout before headers is retryable', async (t) => {
  const { sandbox, get } = await setup(t)
  // The body would finish after a minute (past tap's timeout): only the 150 ms attempt deadline ends this.
  sandbox.inject({ kind: 'stall-body', ms: 60_000 }, 1)
  await t.rejects(get(150), { code: 'upstream_timeout', retryable: false })
  sandbox.hold()
  await t.rejects(get(150), { code: 'upstream_timeout', retryable: true })
})

t.test('which failures are retryable', async (t) => {
  const { sandbox, get } = await setup(t)
  const cases: Array<[Fault, { code: string, retryable: boolean, retryAfterSeconds?: number }]> = [
    [{ kind: 'status', status: 502 }, { code: 'upstream_unavailable', retryable: true }],
    [{ kind: 'status', status: 503, headers: { 'retry-after': '2' } }, { code: 'upstream_unavailable', retryable: true, retryAfterSeconds: 2 }],
    [{ kind: 'status', status: 504 }, { code: 'upstream_unavailable', retryable: true, retryAfterSeconds: undefined }],
    [{ kind: 'status', status: 429 }, { code: 'upstream_rate_limited', retryable: true, retryAfterSeconds: 5 }],
    [{ kind: 'status', status: 500 }, { code: 'upstream_unavailable', retryable: false }],
    [{ kind: 'status', status: 401 }, { code: 'upstream_auth_failed', retryable: false }],
    [{ kind: 'malformed' }, { code: 'upstream_invalid_response', retryable: false }],
    [{ kind: 'reset', when: 'before-headers' }, { code: 'upstream_unavailable', retryable: true }]
  ]
  for (const [fault, expected] of cases) {
    sandbox.inject(fault, 1)
    await t.rejects(get(), expected, JSON.stringify(fault))
  }
})

t.test('parseRetryAfter: seconds, HTTP-date, junk, clamping', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('30', 3600, now), 30)
  t.equal(parseRetryAfter(['7', '9'], 3600, now), 7)
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', 3600, now), 60)
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', 3600, now), 1, 'a date in the past means retry now-ish')
  t.equal(parseRetryAfter('999999', 3600, now), 3600)
  t.equal(parseRetryAfter('999999', 120, now), 120, 'UPSTREAM_MAX_RETRY_AFTER_SECONDS caps it')
  t.equal(parseRetryAfter('Fri, 01 Jan 2027 00:00:00 GMT', 120, now), 120)
  t.equal(parseRetryAfter('0', 3600, now), 1)
  t.equal(parseRetryAfter('soon', 3600, now), 5)
  t.equal(parseRetryAfter(undefined, 3600, now), 5)
  t.equal(parseRetryAfter('  ', 3600, now), 5)
})

t.test('upstreamErrorCode reads the three documented error forms, and only known codes', async (t) => {
  t.equal(upstreamErrorCode('{"status":"error","error":{"code":"INVALID_CREDENTIALS","message":"x"},"requestId":"r"}'), 'INVALID_CREDENTIALS')
  t.equal(upstreamErrorCode('{"error":"invalid_credentials","message":"bad token abc"}'), 'INVALID_CREDENTIALS')
  t.equal(upstreamErrorCode('{"error":{"code":"HTTP_503"}}'), 'HTTP_503')
  t.equal(upstreamErrorCode('{"error":{"code":"vobiz-token-SECRET-0a9b8c7d6e5f"}}'), undefined, 'a code-shaped value that is not a known code (an echoed token)')
  t.equal(upstreamErrorCode('{"error":"MA_AUTHID_SECRET_5d8f2e"}'), undefined, 'nor an echoed auth id')
  t.equal(upstreamErrorCode('{"error":{"code":"HTTP_999"}}'), undefined)
  t.equal(upstreamErrorCode('{"api_id":"1","error":"Authentication failed for token abc"}'), undefined, 'free text is not a code')
  t.equal(upstreamErrorCode('not json'), undefined)
  t.equal(upstreamErrorCode('null'), undefined)
  t.equal(upstreamErrorCode('{"error":{"code":42}}'), undefined)
})
