import { connect } from 'node:net'
import fc from 'fast-check'
import t from 'tap'
import { startHarness } from '../helpers/harness.ts'

/**
 * Property: whatever arrives on the socket — any method, path, query, header name or value (huge, non-ASCII,
 * repeated, with CR/LF) — the service answers with a well-formed 2xx/3xx/4xx (or 501 for a method HTTP does
 * not define), never another 5xx, never a hang,
 * never a crash; and memory does not keep growing.
 */

interface RawReply { status: number, head: string }

/** Sends raw bytes as one HTTP/1.1 request (Connection: close) and reads the status line of the answer. */
async function raw (port: number, request: Buffer): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer within 60 s: the server hung')) }, 60_000)
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', () => {}) // the server may close first; what it wrote still counts
    socket.on('close', () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('latin1')
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(text)
      resolve({ status: match === null ? 0 : Number(match[1]), head: text.slice(0, 4000) })
    })
    socket.end(request)
  })
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/)
const nasty = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.constantFrom('\r\nX-Injected: 1', '\n', '\r', '\0', '%00', '%0d%0a', '../../etc/passwd', '..%2f..%2f', '\u00e9\u4e2d\ud83d\ude00', 'no-cache', 'max-age=0', '*', '"abc"', 'W/"x"', 'Bearer ', 'Bearer a.b.c'),
  fc.integer({ min: 1, max: 40_000 }).map((n) => 'x'.repeat(n))
)
const path = fc.tuple(
  fc.constantFrom('/profile', '/profile/balance', '/profile/', '/PROFILE', '//profile', '/docs', '/openapi.json', '/', '/nope', '*', 'http://127.0.0.1/profile'),
  fc.oneof(fc.constant(''), fc.string({ maxLength: 50 }).map(encodeURIComponent), nasty.map((s) => s.replace(/[\r\n ]/g, '')))
).map(([base, suffix]) => base + suffix)
const query = fc.oneof({ arbitrary: fc.constant(''), weight: 4 }, fc.array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 50 })), { maxLength: 5 })
  .map((pairs) => '?' + pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')))

t.test('random requests never produce a 5xx, a hang or a crash, and memory stays bounded', async (t) => {
  const h = await startHarness(t, { env: { ANONYMOUS_RATE_LIMIT_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000', REFRESH_PER_MINUTE: '100000' } })
  const port = Number(new URL(h.url).port)
  const header = fc.oneof(
    fc.constant(['X-API-Key', h.keys.profile] as [string, string]),
    fc.tuple(fc.constantFrom('X-API-Key', 'x-api-key', 'Authorization', 'Cache-Control', 'If-None-Match', 'X-Request-Id', 'Origin', 'Content-Length', 'Transfer-Encoding', 'Host', 'Accept'), nasty),
    fc.tuple(token, nasty),
    fc.constant(['X-API-Key', h.keys.profile] as [string, string]),
    fc.constant(['X-API-Key', h.keys.balance] as [string, string])
  )
  const request = fc.record({
    method: fc.oneof({ arbitrary: fc.constantFrom('GET', 'HEAD'), weight: 3 }, fc.constantFrom('POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE'), token),
    target: fc.tuple(path, query).map(([p, q]) => p + q),
    headers: fc.array(header, { maxLength: 8 }),
    body: fc.oneof(fc.constant(''), fc.string({ maxLength: 2000 }))
  })
  const statuses = new Map<number, number>()
  const run = async (runs: number) => fc.assert(fc.asyncProperty(request, async ({ method, target, headers, body }) => {
    const lines = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close', ...headers.map(([n, v]) => `${n}: ${v}`)]
    const reply = await raw(port, Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), Buffer.from(body)]))
    statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1)
    // 0: the server closed without an answer. 501: a method HTTP does not define (RFC 9110 §9.1), not a fault.
    if ((reply.status >= 500 && reply.status !== 501) || (reply.status !== 0 && reply.status < 200)) throw new Error(`answered ${reply.status}: ${reply.head}`)
  }), { numRuns: runs, endOnFailure: true })

  await run(400)
  const before = process.memoryUsage().heapUsed
  await run(400)
  const after = process.memoryUsage().heapUsed
  t.comment(`statuses seen: ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`)
  t.ok([...statuses.keys()].some((s) => s === 200), 'some requests got through to the data')
  t.ok(after - before < 40 * 1024 * 1024, `heap grew ${Math.round((after - before) / 1024)} KiB over the second 400 requests`)

  // The service is still fine afterwards.
  const check = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(check.status, 200)
  t.ok(h.sandbox.requests <= 400, 'hostile traffic did not turn into an upstream storm')
})

t.test('the defined 4xx answers: oversized headers, unknown query parameters, wrong methods', async (t) => {
  const h = await startHarness(t)
  const port = Number(new URL(h.url).port)
  const huge = await raw(port, Buffer.from(`GET /profile HTTP/1.1\r\nHost: x\r\nX-API-Key: ${'k'.repeat(20_000)}\r\nConnection: close\r\n\r\n`))
  t.equal(huge.status, 431, 'headers over 16 KiB: 431')
  const query = await h.get('/profile?debug=1', { 'x-api-key': h.keys.profile })
  t.equal(query.status, 400)
  t.match(query.json(), { code: 'bad_request', detail: /Invalid request/ })
  const wrong = await raw(port, Buffer.from('DELETE /profile/balance HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
  t.equal(wrong.status, 405)
  t.match(wrong.head, /allow: GET, HEAD/i)
  // Regression: the 404/405 decision used the router's hasRoute(), which throws on a `*` mid-path (was a 500).
  for (const path of ['/docs*748', '/profile*/x', '/*', '/profile:id', '/profile/(a)']) {
    const odd = await raw(port, Buffer.from(`HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
    t.equal(odd.status, 404, path)
  }
  t.equal(h.sandbox.requests, 0)
})
