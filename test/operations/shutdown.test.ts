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

  // Vobiz holds the fetch until the server has begun shutting down: the request is in flight throughout.
  sandbox.hold()
  const inFlight = httpGet(`${url}/profile`, { 'x-api-key': key })
  await sandbox.received(1)
  server.child.kill('SIGTERM')
  await server.waitFor(/"signal":"SIGTERM","msg":"shutting down"/)
  sandbox.release()

  t.equal((await inFlight).status, 200, 'the in-flight request completed with 200')
  const { code, signal } = await server.exited
  t.equal(code, 0)
  t.equal(signal, null)
  await t.rejects(httpGet(`${url}/health/live`), 'the port is closed afterwards')
})
