import t, { type Test } from 'tap'
import { pino } from 'pino'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { parseRetryAfter, upstreamErrorCode, VobizClient } from '../../src/vobiz/client.ts'
import { LogCapture } from '../helpers/harness.ts'

async function setup (t: Test, options: { timeoutMs?: number, basePath?: string } = {}) {
  const sandbox = await startSandbox()
  const logs = new LogCapture()
  const client = new VobizClient({
    baseUrl: sandbox.url + (options.basePath ?? ''),
    authId: sandbox.authId,
    authToken: sandbox.authToken,
    timeoutMs: options.timeoutMs ?? 1000,
    maxBodyBytes: 4096,
    logger: pino(logs)
  })
  t.teardown(async () => {
    await client.close()
    await sandbox.close()
  })
  return { sandbox, client, logs }
}

t.test('sends the credentials and Accept header to /api/v1/partner/me and returns the JSON', async (t) => {
  const { sandbox, client, logs } = await setup(t)
  const body = await client.getPartnerProfile() as Record<string, unknown>
  t.equal(body.id, 'partner-882abc')
  const seen = sandbox.recorded[0]
  t.equal(seen?.url, '/api/v1/partner/me')
  t.equal(seen?.headers['x-auth-id'], sandbox.authId)
  t.equal(seen?.headers['x-auth-token'], sandbox.authToken)
  t.equal(seen?.headers.accept, 'application/json')
  t.match(logs.lines[0], { msg: 'vobiz fetch', upstream: { outcome: 'ok', status: 200 } })
})

t.test('a base URL with a path prefix is kept (for egress proxies)', async (t) => {
  const { sandbox, client } = await setup(t, { basePath: '/vobiz/' })
  await t.rejects(client.getPartnerProfile(), { code: 'upstream_unavailable', upstreamStatus: 404 })
  t.equal(sandbox.recorded[0]?.url, '/vobiz/api/v1/partner/me')
})

t.test('keeps the connection alive between fetches', async (t) => {
  const { sandbox, client } = await setup(t)
  await client.getPartnerProfile()
  await client.getPartnerProfile()
  t.equal(sandbox.recorded.length, 2)
  t.equal(sandbox.recorded[1]?.headers.connection, 'keep-alive')
})

t.test('a declared Content-Length over the cap is refused without reading the body', async (t) => {
  const { sandbox, client } = await setup(t)
  sandbox.inject({ kind: 'oversize', bytes: 10_000 }, 1)
  await t.rejects(client.getPartnerProfile(), { code: 'upstream_invalid_response', message: /exceeds the 4096-byte cap/ })
})

t.test('a chunked body is cut off once it passes the cap', async (t) => {
  const { sandbox, client } = await setup(t)
  sandbox.inject({ kind: 'oversize', bytes: 100_000, chunked: true }, 1)
  await t.rejects(client.getPartnerProfile(), { code: 'upstream_invalid_response', message: /body exceeds the 4096-byte cap/ })
  t.ok(await client.getPartnerProfile(), 'the client is usable afterwards')
})

t.test('a caller abort ends the fetch early', async (t) => {
  const { sandbox, client } = await setup(t)
  sandbox.inject({ kind: 'delay', ms: 500 }, 1)
  const controller = new AbortController()
  const started = Date.now()
  setTimeout(() => controller.abort(), 20)
  await t.rejects(client.getPartnerProfile(controller.signal), { code: 'upstream_unavailable', message: 'fetch aborted' })
  t.ok(Date.now() - started < 400)
})

t.test('the deadline covers the whole fetch', async (t) => {
  const { sandbox, client } = await setup(t, { timeoutMs: 150 })
  sandbox.inject({ kind: 'stall-body', ms: 1000 }, 1)
  const started = Date.now()
  await t.rejects(client.getPartnerProfile(), { code: 'upstream_timeout' })
  t.ok(Date.now() - started < 900, 'gave up at the deadline, not when the body finished')
})

t.test('parseRetryAfter: seconds, HTTP-date, junk, clamping', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('30', now), 30)
  t.equal(parseRetryAfter(['7', '9'], now), 7)
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60)
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 1, 'a date in the past means retry now-ish')
  t.equal(parseRetryAfter('999999', now), 3600)
  t.equal(parseRetryAfter('0', now), 1)
  t.equal(parseRetryAfter('soon', now), 5)
  t.equal(parseRetryAfter(undefined, now), 5)
  t.equal(parseRetryAfter('  ', now), 5)
})

t.test('upstreamErrorCode reads the three documented error forms, and only code-like values', async (t) => {
  t.equal(upstreamErrorCode('{"status":"error","error":{"code":"INVALID_CREDENTIALS","message":"x"},"requestId":"r"}'), 'INVALID_CREDENTIALS')
  t.equal(upstreamErrorCode('{"error":"invalid_credentials","message":"bad token abc"}'), 'invalid_credentials')
  t.equal(upstreamErrorCode('{"api_id":"1","error":"Authentication failed for token abc"}'), undefined, 'free text is not a code')
  t.equal(upstreamErrorCode('not json'), undefined)
  t.equal(upstreamErrorCode('null'), undefined)
  t.equal(upstreamErrorCode('{"error":{"code":42}}'), undefined)
})
