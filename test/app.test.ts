import t from 'tap'
import { startHarness } from './helpers/harness.ts'

t.test('closing the app lets in-flight requests finish, then closes their keep-alive connections', async (t) => {
  const h = await startHarness(t)
  h.sandbox.inject({ kind: 'delay', ms: 300 }, 1)
  const inFlight = Array.from({ length: 5 }, () => h.get('/profile', { 'x-api-key': h.keys.profile }))
  // Close only once every request is inside the app (a request arriving after close() starts gets a 503).
  while (h.sandbox.requests === 0 || h.logs.length === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  await new Promise((resolve) => setTimeout(resolve, 100))
  const started = Date.now()
  await h.app.close()
  const replies = await Promise.all(inFlight)
  t.ok(replies.every((r) => r.status === 200), 'every in-flight request completed with 200')
  t.ok(Date.now() - started < 2000, `closed promptly (${Date.now() - started} ms), not after the keep-alive timeout`)
  t.equal(h.sandbox.requests, 1)
})
