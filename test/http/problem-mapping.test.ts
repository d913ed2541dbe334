import Fastify, { type FastifyInstance } from 'fastify'
import t from 'tap'
import { connect } from 'node:net'
import { frameworkErrors } from '../../src/http/client-errors.ts'
import problems, { problem } from '../../src/http/problems.ts'
import { UpstreamError } from '../../src/vobiz/errors.ts'
import { LogCapture } from '../helpers/harness.ts'

/**
 * The problem mapping on a bare app, one rule per case: what each kind of error becomes (code, status,
 * detail, headers), what is logged, and what the not-found handler says for each kind of path.
 */
async function appWith (routes: (app: FastifyInstance) => void): Promise<{ app: FastifyInstance, logs: LogCapture }> {
  const logs = new LogCapture()
  const app = Fastify({ logger: { stream: logs }, frameworkErrors })
  await app.register(problems)
  routes(app)
  await app.ready()
  return { app, logs }
}

t.test('every Vobiz failure has its own code and detail, and says when to retry', async (t) => {
  const thrown = new Map<string, UpstreamError>([
    ['timeout', new UpstreamError('upstream_timeout', 'vobiz took too long: internal text')],
    ['unavailable', new UpstreamError('upstream_unavailable', 'internal text', { retryAfterSeconds: 7 })],
    ['auth', new UpstreamError('upstream_auth_failed', 'internal text')],
    ['rate', new UpstreamError('upstream_rate_limited', 'internal text', { retryAfterSeconds: 0 })],
    ['invalid', new UpstreamError('upstream_invalid_response', 'internal text')],
    ['breaker', new UpstreamError('upstream_unavailable', 'internal text', { shortCircuit: 'breaker-open', retryAfterSeconds: 3 })],
    ['cooling', new UpstreamError('upstream_rate_limited', 'internal text', { shortCircuit: 'cooling-down', retryAfterSeconds: 2 })]
  ])
  const { app, logs } = await appWith((app) => { app.get<{ Params: { which: string } }>('/:which', async (request) => { throw thrown.get(request.params.which) }) })
  t.teardown(() => app.close())
  const expected: Array<[string, number, string, string, string | undefined]> = [
    ['timeout', 504, 'upstream_timeout', 'Vobiz did not answer within the upstream deadline. Try again shortly.', undefined],
    ['unavailable', 502, 'upstream_unavailable', 'Vobiz could not be reached or answered with a server error. Try again shortly.', '7'],
    ['auth', 502, 'upstream_auth_failed', 'Vobiz rejected the partner credentials this service holds. Operators have been alerted; retrying will not help.', undefined],
    ['rate', 503, 'upstream_rate_limited', 'Vobiz is rate-limiting this service. Retry after the time given in Retry-After.', '0'],
    ['invalid', 502, 'upstream_invalid_response', 'Vobiz sent a response this service could not use. Try again shortly.', undefined],
    ['breaker', 502, 'upstream_unavailable', 'Vobiz has been failing, so this service has stopped calling it for a moment. Retry after the time given in Retry-After.', '3'],
    ['cooling', 503, 'upstream_rate_limited', 'Vobiz is rate-limiting this service. Retry after the time given in Retry-After.', '2']
  ]
  for (const [which, status, code, detail, retryAfter] of expected) {
    const reply = await app.inject(`/${which}`)
    t.equal(reply.statusCode, status, `${which}: ${status}`)
    t.match(reply.json(), { type: `urn:vobiz-bff:problem:${code}`, code, status, detail }, `${which}: code and detail`)
    t.equal(reply.headers['retry-after'], retryAfter, `${which}: Retry-After`)
    t.equal(reply.headers['cache-control'], 'no-store')
    t.equal(reply.headers['content-type'], 'application/problem+json; charset=utf-8')
  }
  t.same(logs.lines.filter((line) => line.msg === 'unhandled error'), [], 'Vobiz failures are logged where they happen, not as unhandled errors')
})

t.test('Fastify\'s and Node\'s client errors keep their status; only Fastify\'s own messages are trusted', async (t) => {
  const statuses: Array<[number, string]> = [
    [400, 'bad_request'], [404, 'not_found'], [405, 'method_not_allowed'], [406, 'not_acceptable'], [408, 'request_timeout'],
    [413, 'payload_too_large'], [414, 'uri_too_long'], [415, 'unsupported_media_type'], [431, 'headers_too_large'], [418, 'client_error'], [499, 'client_error']
  ]
  const { app, logs } = await appWith((app) => {
    app.get<{ Params: { status: string } }>('/fst/:status', async (request) => { throw Object.assign(new Error(`Fastify says ${request.params.status}`), { statusCode: Number(request.params.status), code: 'FST_ERR_SOMETHING' }) })
    app.get<{ Params: { status: string } }>('/other/:status', async (request) => { throw Object.assign(new Error('secret internal text'), { statusCode: Number(request.params.status), code: 'ERR_OTHER' }) })
    app.get('/uncoded', async () => { throw Object.assign(new Error('secret internal text'), { statusCode: 409 }) })
    app.get('/5xx', async () => { throw Object.assign(new Error('secret internal text'), { statusCode: 500 }) })
    app.get('/399', async () => { throw Object.assign(new Error('secret internal text'), { statusCode: 399 }) })
    app.get('/503', async () => { throw Object.assign(new Error('closing'), { statusCode: 503 }) })
    app.get('/validated', { schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } } }, async () => 'ok')
    app.get('/own', async () => { throw problem('precondition_failed', 'If-Match does not name this.', { etag: '"x"' }) })
    // eslint-disable-next-line no-throw-literal -- what a careless plugin may throw
    app.get('/plain-object', async () => { throw { statusCode: 400, code: 'FST_ERR_X' } })
    app.get('/string-status', async () => { throw Object.assign(new Error('secret internal text'), { statusCode: '404' }) })
  })
  t.teardown(() => app.close())
  const validated = await app.inject('/validated?n=zero')
  t.match(validated.json(), { code: 'bad_request', status: 400, detail: /^Invalid request: querystring\/n must be integer/ }, 'a validation error says what failed')
  const own = await app.inject('/own')
  t.equal(own.statusCode, 412)
  t.match(own.json(), { code: 'precondition_failed', detail: 'If-Match does not name this.' }, 'a problem thrown is sent as it is')
  t.equal(own.headers.etag, '"x"', 'with its headers')
  t.equal(problem('bad_request', 'x').name, 'ProblemError')
  t.match((await app.inject('/plain-object')).json(), { code: 'bad_request', detail: 'Bad request' }, 'a Fastify code without a message: the title')
  for (const [status, code] of statuses) {
    const fst = await app.inject(`/fst/${status}`)
    t.match(fst.json(), { code, status: code === 'client_error' ? 400 : status, detail: `Fastify says ${status}` }, `FST ${status} → ${code}, with Fastify's message`)
    const other = await app.inject(`/other/${status}`)
    t.match(other.json(), { code, detail: other.json().title }, `another ${status} → ${code}, with the title only`)
    t.notMatch(other.body, /secret/)
  }
  t.match((await app.inject('/uncoded')).json(), { code: 'client_error', detail: 'Client error' })
  for (const path of ['/5xx', '/399', '/string-status']) {
    const reply = await app.inject(path)
    t.match(reply.json(), { code: 'internal_error', status: 500, detail: 'An unexpected error occurred. Quote the request_id when reporting it.' }, `${path}: not a client error`)
  }
  const closing = await app.inject('/503')
  t.match(closing.json(), { code: 'service_unavailable', detail: 'The service is not accepting requests right now. Try again shortly.' })
  t.equal(closing.headers['retry-after'], '1')
  const unhandled = logs.lines.filter((line) => line.msg === 'unhandled error')
  t.equal(unhandled.length, 3, 'each 500 is logged as an unhandled error; 4xx and 503 are not')
  t.ok(unhandled.every((line) => line.level === 50 && (line.err as { message: string }).message === 'secret internal text'))
})

t.test('a wrong method gets 405 with the path\'s own Allow; anything else 404', async (t) => {
  const { app } = await appWith((app) => {
    app.get('/both', async () => 'ok')
    app.get('/stream', { config: { allow: 'GET' } }, async () => 'ok')
    app.route({ method: 'POST', url: '/post-only', handler: async () => 'ok' })
    app.route({ method: 'POST', url: '/post-allowed', config: { allow: 'POST' }, handler: async () => 'ok' })
    app.route({ method: 'HEAD', url: '/head-only', handler: async () => 'ok' })
    app.get('/files/*', async () => 'ok')
    app.get('/limited/*', { config: { allow: 'GET' } }, async () => 'ok')
    app.get('/no-head', { exposeHeadRoute: false }, async () => 'ok')
    app.get('/late', { exposeHeadRoute: false }, async () => 'ok')
    app.route({ method: 'HEAD', url: '/late', config: { allow: 'GET' }, handler: async () => 'ok' })
  })
  t.ok(app.hasPlugin('problems'), 'other plugins can depend on it by name')
  t.teardown(() => app.close())
  const cases: Array<[string, string, number, string | undefined, string]> = [
    ['DELETE', '/both', 405, 'GET, HEAD', 'DELETE is not supported on /both; use GET or HEAD.'],
    ['PUT', '/both?x=1', 405, 'GET, HEAD', 'PUT is not supported on /both; use GET or HEAD.'],
    ['DELETE', '/stream', 405, 'GET', 'DELETE is not supported on /stream; use GET.'],
    ['GET', '/post-only', 404, undefined, 'No resource here. The API serves GET /profile and GET /profile/balance.'],
    ['GET', '/post-allowed', 405, 'POST', 'GET is not supported on /post-allowed; use POST.'],
    ['DELETE', '/head-only', 405, 'GET, HEAD', 'DELETE is not supported on /head-only; use GET or HEAD.'],
    ['POST', '/files/a/b.css', 405, 'GET, HEAD', 'POST is not supported on /files/a/b.css; use GET or HEAD.'],
    ['POST', '/limited/x', 405, 'GET', 'POST is not supported on /limited/x; use GET.'],
    ['GET', '/nowhere', 404, undefined, 'No resource here. The API serves GET /profile and GET /profile/balance.'],
    ['GET', '/bothx', 404, undefined, 'No resource here. The API serves GET /profile and GET /profile/balance.'],
    ['DELETE', '/no-head', 405, 'GET, HEAD', 'DELETE is not supported on /no-head; use GET or HEAD.'],
    ['DELETE', '/late', 405, 'GET', 'DELETE is not supported on /late; use GET.'],
    ['GET', '/xfiles/a', 404, undefined, 'No resource here. The API serves GET /profile and GET /profile/balance.']
  ]
  for (const [method, url, status, allow, detail] of cases) {
    const reply = await app.inject({ method: method as 'GET', url })
    t.equal(reply.statusCode, status, `${method} ${url}: ${status}`)
    t.equal(reply.headers.allow, allow, `${method} ${url}: Allow`)
    t.match(reply.json(), { code: status === 405 ? 'method_not_allowed' : 'not_found', detail }, `${method} ${url}: detail`)
  }
})

t.test('a request refused before routing is answered by the not-found handler with its own problem, whatever its method and path', async (t) => {
  const { app } = await appWith((app) => { app.get('/both', async () => 'ok') })
  t.teardown(() => app.close())
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  for (const line of ['GET /both/%ZZ', 'DELETE /%c0%af']) {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk: Buffer) => { answer += chunk.toString() })
    socket.write(`${line} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)
    await new Promise((resolve) => socket.on('close', resolve))
    t.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, line)
    t.notMatch(answer, /\r\nallow:/i, `${line}: no Allow, whatever the path`)
    t.match(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)), { code: 'bad_request', detail: 'The request path is not valid percent-encoded UTF-8 (RFC 3986, section 2.1).' })
  }
})
