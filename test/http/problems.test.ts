import t from 'tap'
import Type from 'typebox'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { LogCapture } from '../helpers/harness.ts'

/**
 * The error handler on its own: routes added to the real app for this test throw what Fastify, a bug or a
 * validation failure would, and every answer must be a clean problem+json that reveals nothing internal.
 */
t.test('validation errors, Fastify client errors, unexpected errors and 503', async (t) => {
  const logs = new LogCapture()
  const app = await buildApp(loadConfig({ VOBIZ_SANDBOX: 'true' }), { logStream: logs })
  t.teardown(() => app.close())
  app.get('/test/validated', { schema: { querystring: Type.Object({ n: Type.Integer({ minimum: 1 }) }) } }, async () => 'ok')
  app.get('/test/bug', async () => { throw new Error('database password is hunter2') })
  app.get('/test/teapot', async () => { throw Object.assign(new Error('I am a teapot'), { statusCode: 418 }) })
  app.get('/test/fst', async () => { throw Object.assign(new Error('Unsupported Media Type: text/x-nope'), { statusCode: 415, code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }) })
  app.get('/test/unavailable', async () => { throw Object.assign(new Error('closing'), { statusCode: 503 }) })

  const invalid = await app.inject('/test/validated?n=zero')
  t.equal(invalid.statusCode, 400)
  t.equal(invalid.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.match(invalid.json(), { code: 'bad_request', status: 400, detail: /^Invalid request: / })

  const bug = await app.inject('/test/bug')
  t.equal(bug.statusCode, 500)
  t.match(bug.json(), { code: 'internal_error', title: 'Internal error', request_id: bug.headers['x-request-id'] })
  t.notMatch(bug.body, /hunter2/, 'the internal message is not sent')
  t.ok(logs.lines.some((l) => l.msg === 'unhandled error' && l.level === 50), 'but it is logged')

  const teapot = await app.inject('/test/teapot')
  t.equal(teapot.statusCode, 400)
  t.match(teapot.json(), { code: 'client_error', detail: 'Client error' })

  const fst = await app.inject('/test/fst')
  t.equal(fst.statusCode, 415)
  t.match(fst.json(), { code: 'unsupported_media_type', detail: 'Unsupported Media Type: text/x-nope' })

  const unavailable = await app.inject('/test/unavailable')
  t.equal(unavailable.statusCode, 503)
  t.equal(unavailable.headers['retry-after'], '1')
  t.match(unavailable.json(), { code: 'service_unavailable' })
})
