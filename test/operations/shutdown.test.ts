import t from 'tap'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'
import { runServerAgainst } from '../helpers/processes.ts'

t.test('SIGTERM: in-flight requests complete with 200, readiness drops, the process exits 0', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const key = 'shutdown-test-consumer-key'
  const server = await runServerAgainst(t, sandbox, key)
  const { url } = server

  // Slow Vobiz: every request below is in flight when the signal arrives.
  sandbox.inject({ kind: 'delay', ms: 700 })
  const inFlight = [
    ...Array.from({ length: 5 }, () => httpGet(`${url}/profile`, { 'x-api-key': key })),
    ...Array.from({ length: 5 }, () => httpGet(`${url}/profile/balance`, { 'x-api-key': key, 'cache-control': 'no-cache' }))
  ]
  while (sandbox.requests < 2) await new Promise((resolve) => setTimeout(resolve, 10))
  server.child.kill('SIGTERM')

  const replies = await Promise.all(inFlight)
  t.same(replies.map((r) => r.status), Array(10).fill(200), 'every in-flight request completed with 200')
  const { code, signal } = await server.exited
  t.equal(code, 0)
  t.equal(signal, null)
  t.match(server.stdout(), /"signal":"SIGTERM","msg":"shutting down"/)
  await t.rejects(httpGet(`${url}/health/live`), 'the port is closed afterwards')
})
