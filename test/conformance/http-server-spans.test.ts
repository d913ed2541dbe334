import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import t from 'tap'
import { request } from 'undici'
import { startTracing } from '../../src/observability/tracing.ts'
import { startHarness } from '../helpers/harness.ts'
import { startOtlpReceiver, testTracing, type ReceivedSpan } from '../helpers/otlp-receiver.ts'

// The server spans as exported, read back by a real OTLP receiver, against the stable HTTP semantic conventions
// (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server): every Required and Conditionally
// Required attribute, the Recommended ones the service sets, and the span name. One SDK for the file.

const SERVER = 2
const ERROR = 2
const receiver = await startOtlpReceiver(t)
const tracing = await startTracing(testTracing(`${receiver.url}/v1/traces`))
t.teardown(async () => { await tracing.shutdown() })

t.test('server spans of a 200, 304, 401, 404, 405, 502 and an unknown method follow the HTTP semantic conventions', async (t) => {
  // One proxy in front (TRUST_PROXY=1): the client is the last X-Forwarded-For entry, as the service resolves it.
  const h = await startHarness(t, { deps: { tracing }, env: { TRUST_PROXY: '1', UPSTREAM_RETRIES: '0' } })
  const port = Number(new URL(h.url).port)
  const key = h.keys.profile

  /** Sends a request carrying its own trace, and returns its exported server span (in that trace, or linked to it when the caller was not authenticated). */
  const serverSpan = async (method: string, path: string, headers: Record<string, string>, expected: number): Promise<ReceivedSpan> => {
    const traceId = randomBytes(16).toString('hex')
    const reply = await request(`${h.url}${path}`, {
      method,
      headers: { 'user-agent': `conformance-test/1.0 (key ${key})`, 'x-forwarded-for': '198.51.100.9, 203.0.113.7', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, ...headers }
    })
    await reply.body.dump()
    t.equal(reply.statusCode, expected, `${method} ${path} is answered ${expected}`)
    return await receiver.waitForSpan(`the server span of ${method} ${path}`, (span) => span.kind === SERVER && (span.traceId === traceId || span.links.some((link) => link.traceId === traceId)))
  }

  const auth = { 'x-api-key': key }
  // First, while nothing is cached: Vobiz fails once, and there is no copy to serve instead.
  h.sandbox.inject({ kind: 'status', status: 500 }, 1)
  const badGateway = await serverSpan('GET', '/profile/balance', { 'x-api-key': h.keys.balance }, 502)
  const ok = await serverSpan('GET', '/profile', auth, 200)
  const etag = (await h.get('/profile', auth)).headers.etag as string
  const notModified = await serverSpan('GET', '/profile', { ...auth, 'if-none-match': etag }, 304)
  const unauthorized = await serverSpan('GET', '/profile', { 'x-api-key': 'not-a-key' }, 401)
  const notFound = await serverSpan('GET', '/nowhere?secret=1', auth, 404)
  const notAllowed = await serverSpan('DELETE', '/profile', auth, 405)
  const unknown = await serverSpan('PURGE', '/profile', auth, 405)

  const cases: Array<[string, ReceivedSpan, { method: string, path: string, status: number }]> = [
    ['200', ok, { method: 'GET', path: '/profile', status: 200 }],
    ['304', notModified, { method: 'GET', path: '/profile', status: 304 }],
    ['401', unauthorized, { method: 'GET', path: '/profile', status: 401 }],
    ['404', notFound, { method: 'GET', path: '/nowhere', status: 404 }],
    ['405', notAllowed, { method: 'DELETE', path: '/profile', status: 405 }],
    ['502', badGateway, { method: 'GET', path: '/profile/balance', status: 502 }],
    ['unknown method', unknown, { method: '_OTHER', path: '/profile', status: 405 }]
  ]
  for (const [name, span, { method, path, status }] of cases) {
    const a = span.attributes
    const route = a['http.route'] as string | undefined
    // Required.
    t.equal(a['http.request.method'], method, `${name}: http.request.method`)
    t.equal(a['url.path'], path, `${name}: url.path, without the query`)
    t.equal(a['url.scheme'], 'http', `${name}: url.scheme`)
    t.equal(a['http.response.status_code'], status, `${name}: http.response.status_code`)
    // Conditionally Required: server.port with server.address; error.type when it failed (5xx); no url.query (the service's choice).
    t.equal(a['server.address'], '127.0.0.1', `${name}: server.address (the Host header)`)
    t.equal(a['server.port'], port, `${name}: server.port`)
    t.equal(a['error.type'], status >= 500 ? String(status) : undefined, `${name}: error.type only for a 5xx, its status code`)
    t.equal(a['url.query'], undefined, `${name}: the query is not recorded`)
    t.equal(span.status.code, status >= 500 ? ERROR : 0, `${name}: the span status is an error for a 5xx only`)
    // Recommended.
    t.equal(a['network.protocol.version'], '1.1', `${name}: network.protocol.version`)
    t.equal(a['client.address'], '203.0.113.7', `${name}: client.address as the service resolves it (TRUST_PROXY=1: the last hop)`)
    t.equal(a['user_agent.original'], 'conformance-test/1.0 (key [redacted])', `${name}: user_agent.original, through the secret filter`)
    // The name: {method} {http.route}, or the method alone without a route; HTTP for an unknown method.
    const named = method === '_OTHER' ? 'HTTP' : method
    t.equal(span.name, route === undefined ? named : `${named} ${route}`, `${name}: span name`)
  }
  const madeUp = await serverSpan('GET', '/profile', { ...auth, 'x-forwarded-for': 'g1' }, 200)
  t.equal(madeUp.attributes['client.address'], '127.0.0.1', 'an X-Forwarded-For entry that is not an address: the hop that sent it')
  t.equal(ok.attributes['http.route'], '/profile')
  t.equal(notModified.attributes['http.route'], '/profile')
  t.equal(unauthorized.parentSpanId, '', 'an unauthenticated caller\'s trace is not continued: a new root')
  t.same(unauthorized.links.map((link) => link.attributes['vobiz_bff.link.reason']), ['untrusted-caller'], 'linked to the caller\'s context instead')
  t.equal(notFound.attributes['http.route'], undefined, 'a request no route matched has no http.route')
  t.equal(notFound.name, 'GET')
  t.equal(unknown.attributes['http.request.method_original'], 'PURGE', 'the unknown method, as sent')
  t.equal(ok.attributes['http.request.method_original'], undefined, 'a known method has no original')
  t.same(receiver.spans.filter((span) => /notFoundHandler|fastify ->/.test(span.name)), [], 'no span named after the plugin chain')
  t.notOk(receiver.raw().includes(key), 'the key sent in the User-Agent reached no span')
})

/** One request over a raw socket (for what an HTTP client library would not send); resolves with the status code. */
async function rawRequest (url: string, lines: string[]): Promise<number> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  // Written, not ended: the server closes the connection once it has answered (Connection: close, or HTTP/1.0).
  socket.write(`${lines.join('\r\n')}\r\n\r\n`)
  const chunks: Buffer[] = []
  for await (const chunk of socket) chunks.push(chunk as Buffer)
  return Number(/^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))?.[1])
}

t.test('server.address and server.port come from the Host header, the scheme and host from a trusted proxy; an HTTP/1.0 request without a Host has neither', async (t) => {
  const h = await startHarness(t, { deps: { tracing }, env: { TRUST_PROXY: '1' } })
  const cases: Array<[string, string[], Record<string, unknown>]> = [
    ['an IPv6 host with a port, behind a TLS proxy', ['HTTP/1.1', 'Host: [::1]:8443', 'X-Forwarded-Proto: https'], { 'server.address': '::1', 'server.port': 8443, 'url.scheme': 'https', 'network.protocol.version': '1.1' }],
    ['a name without a port, behind a TLS proxy', ['HTTP/1.1', 'Host: bff.example', 'X-Forwarded-Proto: https'], { 'server.address': 'bff.example', 'server.port': 443, 'url.scheme': 'https' }],
    ['the proxy\'s X-Forwarded-Host', ['HTTP/1.1', 'Host: 10.0.0.5:3000', 'X-Forwarded-Host: api.example:8080'], { 'server.address': 'api.example', 'server.port': 8080, 'url.scheme': 'http' }],
    ['a name without a port, plain HTTP', ['HTTP/1.1', 'Host: bff.example'], { 'server.address': 'bff.example', 'server.port': 80, 'url.scheme': 'http' }],
    ['HTTP/1.0 without a Host', ['HTTP/1.0'], { 'server.address': undefined, 'server.port': undefined, 'url.scheme': 'http', 'network.protocol.version': '1.0' }]
  ]
  for (const [name, [version, ...headers], expected] of cases) {
    const traceId = randomBytes(16).toString('hex')
    const status = await rawRequest(h.url, [`GET /profile ${version as string}`, `X-API-Key: ${h.keys.profile}`, `traceparent: 00-${traceId}-${randomBytes(8).toString('hex')}-01`, 'Connection: close', ...headers])
    t.equal(status, 200, `${name}: answered`)
    const span = await receiver.waitForSpan(`${name}: the server span`, (span) => span.traceId === traceId && span.kind === SERVER)
    t.match(span.attributes, expected, name)
    for (const [key, value] of Object.entries(expected)) if (value === undefined) t.notOk(key in span.attributes, `${name}: no ${key}`)
  }
})

t.test('an anonymous caller\'s malformed traceparent: a new trace, and nothing to link to', async (t) => {
  const h = await startHarness(t, { deps: { tracing } })
  const before = receiver.spans.length
  t.equal((await h.get('/profile', { traceparent: '00-not-a-trace-context-01', 'user-agent': 'malformed-traceparent-test' })).status, 401)
  const span = await receiver.waitForSpan('its server span', (span) => span.kind === SERVER && span.attributes['user_agent.original'] === 'malformed-traceparent-test' && receiver.spans.indexOf(span) >= before)
  t.equal(span.parentSpanId, '')
  t.same(span.links, [])
})
