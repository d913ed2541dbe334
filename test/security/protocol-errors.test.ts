import { once } from 'node:events'
import { connect } from 'node:net'
import t from 'tap'
import { frameworkProblem } from '../../src/http/client-errors.ts'
import { httpGet, startHarness } from '../helpers/harness.ts'

interface RawAnswer { status: number, headers: Record<string, string>, body: string, closed: boolean }

/** Writes raw bytes on a new connection and reads until the server closes it. */
async function exchange (port: number, bytes: string | undefined): Promise<RawAnswer> {
  const socket = connect(port, '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  if (bytes !== undefined) socket.write(bytes)
  await new Promise((resolve) => socket.on('close', resolve))
  const text = Buffer.concat(chunks).toString('utf8')
  const [head = '', body = ''] = text.split('\r\n\r\n')
  const [statusLine = '', ...lines] = head.split('\r\n')
  const headers = Object.fromEntries(lines.map((line) => {
    const at = line.indexOf(':')
    return [line.slice(0, at).toLowerCase(), line.slice(at + 1).trim()]
  }))
  return { status: Number(statusLine.split(' ')[1]), headers, body, closed: true }
}

t.test('protocol-level errors are problem+json with the security headers and a request id, then the connection closes', async (t) => {
  const h = await startHarness(t, { env: { HEADERS_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '300' } })
  const port = Number(new URL(h.url).port)
  const cases: Array<[string, string | undefined, number, string]> = [
    ['header section over 16 KiB', `GET /profile HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
    ['a bare CR inside a header', 'GET /profile HTTP/1.1\r\nHost: x\rY: z\r\n\r\n', 400, 'bad_request'],
    ['a header line without a colon', 'GET /profile HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n', 400, 'bad_request'],
    ['Content-Length with Transfer-Encoding (smuggling)', 'GET /profile HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad_request'],
    ['a method HTTP does not define', 'BREW /profile HTTP/1.1\r\nHost: x\r\n\r\n', 501, 'not_implemented'],
    ['CONNECT (no tunnels here)', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n', 501, 'not_implemented'],
    ['HTTP/1.1 without Host', 'GET /profile HTTP/1.1\r\n\r\n', 400, 'bad_request'],
    ['bytes that are not HTTP (a TLS hello)', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\r\n\r\n', 400, 'bad_request'],
    ['a request head that never ends (dripped, then silence)', 'GET /profile HTTP/1.1\r\nHost: x\r\nX-Slow: a', 408, 'request_timeout'],
    ['a connection that sends nothing', undefined, 408, 'request_timeout']
  ]
  for (const [what, bytes, status, code] of cases) {
    const answer = await exchange(port, bytes)
    t.equal(answer.status, status, `${what}: ${status}`)
    t.match(answer.headers, {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      connection: 'close',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'content-security-policy': String,
      'strict-transport-security': String,
      'x-request-id': /^[0-9a-f-]{36}$/
    }, `${what}: headers`)
    const body = JSON.parse(answer.body)
    t.same(Object.keys(body), ['type', 'title', 'status', 'detail', 'code', 'request_id'], `${what}: RFC 9457 members`)
    t.match(body, { type: `urn:vobiz-bff:problem:${code}`, status, code, request_id: answer.headers['x-request-id'] })
    t.equal(Number(answer.headers['content-length']), Buffer.byteLength(answer.body), `${what}: Content-Length`)
  }
  // A client that resets in the middle of its request head leaves nothing to answer, and nothing behind.
  const seen = once(h.app.server, 'clientError')
  const reset = connect(port, '127.0.0.1')
  reset.on('error', () => {})
  reset.write('GET /profile HTTP/1.1\r\nHost: x\r\nX-Half')
  await new Promise((resolve) => reset.once('ready', resolve))
  reset.resetAndDestroy()
  await seen
  t.pass('the server saw the connection end mid-request')
  t.equal((await h.get('/health/live')).status, 200, 'and the service is unharmed')
})

t.test('a path the router refuses and an Expect the service cannot meet: problem+json through the app, with every header, an access line and metrics', async (t) => {
  const h = await startHarness(t, { env: { CORS_ORIGINS: 'https://app.example.com', METRICS_TOKEN: 'protocol-metrics-token' } })
  const port = Number(new URL(h.url).port)
  const cases: Array<[string, string, number, string]> = [
    ['a malformed percent-escape', 'GET /profile/%ZZ HTTP/1.1', 400, 'bad_request'],
    ['an overlong UTF-8 encoding', 'GET /%c0%af HTTP/1.1', 400, 'bad_request'],
    ['a truncated escape on the stream route', 'GET /profile/events%E0%A4%A HTTP/1.1', 400, 'bad_request'],
    ['an expectation other than 100-continue', 'GET /profile HTTP/1.1\r\nExpect: 999-foo', 417, 'expectation_failed']
  ]
  for (const [what, head, status, code] of cases) {
    const answer = await exchange(port, `${head}\r\nHost: x\r\nOrigin: https://app.example.com\r\nX-Request-Id: refused-${status}-${code}\r\nConnection: close\r\n\r\n`)
    t.equal(answer.status, status, `${what}: ${status}`)
    t.match(answer.headers, {
      'content-type': 'application/problem+json; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'content-security-policy': "default-src 'none';frame-ancestors 'none'",
      'strict-transport-security': String,
      'access-control-allow-origin': 'https://app.example.com',
      'x-request-id': `refused-${status}-${code}`
    }, `${what}: the headers every answer has`)
    const body = JSON.parse(answer.body)
    t.same(Object.keys(body), ['type', 'title', 'status', 'detail', 'code', 'request_id'], `${what}: RFC 9457 members`)
    t.match(body, { type: `urn:vobiz-bff:problem:${code}`, status, code, request_id: `refused-${status}-${code}` })
    t.notMatch(answer.body, /%|profile|c0/i, `${what}: the path is not echoed`)
    t.match(h.logs.filter((line) => line.reqId === `refused-${status}-${code}`), [{ msg: 'request', method: 'GET', route: '(no route)', status }], `${what}: one access line`)
  }
  const metrics = (await httpGet(`${h.url}/metrics`, { authorization: 'Bearer protocol-metrics-token' })).text
  t.match(metrics, /^http_request_duration_seconds_count\{method="GET",route="\(no route\)",status="400"\} 3$/m)
  t.match(metrics, /^http_request_duration_seconds_count\{method="GET",route="\(no route\)",status="417"\} 1$/m)
  const continued = await exchange(port, `GET /profile HTTP/1.1\r\nHost: x\r\nX-API-Key: ${h.keys.profile}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`)
  t.equal(continued.status, 100, 'Expect: 100-continue is met')
  t.match(continued.body, /^HTTP\/1\.1 200 OK\r\n/, 'and the request served')
})

t.test('MAX_CONNECTIONS: a connection past the cap is dropped at once and counted; the established one is served', async (t) => {
  const h = await startHarness(t, { env: { MAX_CONNECTIONS: '1', METRICS_TOKEN: 'protocol-metrics-token' } })
  const port = Number(new URL(h.url).port)
  const established = connect(port, '127.0.0.1')
  await new Promise((resolve) => established.once('connect', resolve))
  const extra = connect(port, '127.0.0.1')
  extra.on('error', () => {})
  await new Promise((resolve) => extra.once('close', resolve))
  t.pass('the second connection was closed by the server without a request')
  let answer = ''
  established.on('data', (chunk: Buffer) => { answer += chunk.toString() })
  established.end('GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer protocol-metrics-token\r\nConnection: close\r\n\r\n')
  await new Promise((resolve) => established.once('close', resolve))
  t.match(answer, /^HTTP\/1\.1 200 [^]*\nvobiz_bff_connections_refused_total 1\n/)
  t.ok(h.logs.some((l) => l.component === 'connections' && /connection limit reached/.test(String(l.msg))))
})

t.test('each error Fastify\'s router raises before routing has its problem', async (t) => {
  t.match(frameworkProblem({ code: 'FST_ERR_BAD_URL' }), { code: 'bad_request', message: /percent-encoded/ })
  t.match(frameworkProblem({ code: 'FST_ERR_MAX_PARAM_LENGTH' }), { code: 'uri_too_long' })
  t.match(frameworkProblem({ code: 'FST_ERR_ASYNC_CONSTRAINT' }), { code: 'bad_request', message: 'The request cannot be routed.' })
})
