import { PassThrough } from 'node:stream'
import t from 'tap'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { generateApiKey, sha256Hex } from '../src/consumers.ts'
import { startHarness } from './helpers/harness.ts'

t.test('closing the app lets in-flight requests finish, then closes their keep-alive connections', async (t) => {
  const h = await startHarness(t)
  // Vobiz holds the fetch until the app is closing: all five requests are in flight when close() starts.
  h.sandbox.hold()
  const inFlight = Promise.all(Array.from({ length: 5 }, () => h.get('/profile', { 'x-api-key': h.keys.profile })))
  await Promise.all([h.arrived(5), h.sandbox.received(1)])
  const closed = h.app.close()
  h.sandbox.release()
  const replies = await inFlight
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200], 'every in-flight request completed with 200')
  // Without the drain, close() would wait for the clients' keep-alive connections to time out.
  await closed
  t.equal(h.app.server.listening, false)
  const open = await new Promise<number>((resolve, reject) => { h.app.server.getConnections((err, count) => { if (err === null) resolve(count); else reject(err) }) })
  t.equal(open, 0, 'no connection is left open')
  t.equal(h.sandbox.requests, 1)
})

t.test('an app built without Vobiz credentials (for its OpenAPI document) sends nothing to Vobiz: fetches fail as auth failures', async (t) => {
  const key = generateApiKey()
  const config = loadConfig({ VOBIZ_SANDBOX: 'true', CONSUMERS: JSON.stringify([{ name: 'svc', key_sha256: sha256Hex(key), scopes: ['profile:read'] }]) })
  const app = await buildApp(config, { logStream: new PassThrough() })
  t.teardown(async () => { await app.close() })
  const reply = await app.inject({ url: '/profile', headers: { 'x-api-key': key } })
  t.equal(reply.statusCode, 502)
  t.equal(reply.json().code, 'upstream_auth_failed')
})
