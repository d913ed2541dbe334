import t from 'tap'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'
import { runServerAgainst } from '../helpers/processes.ts'
import { until } from '../helpers/time.ts'

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

t.test('SIGTERM under load exits 0 after a clean drain, every time', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const key = 'shutdown-under-load-key'
  for (let round = 1; round <= 3; round++) {
    const server = await runServerAgainst(t, sandbox, key)
    let answered = 0
    const load = { stopped: false }
    // 16 clients hammering both routes until the server stops answering.
    const clients = Array.from({ length: 16 }, async (_, i) => {
      while (!load.stopped) {
        try {
          const res = await httpGet(`${server.url}/profile${i % 2 === 0 ? '' : '/balance'}`, { 'x-api-key': key })
          if (res.status === 200) answered += 1
        } catch {
          return
        }
      }
    })
    await until(`round ${round}: load to be under way`, () => answered >= 200)
    server.child.kill('SIGTERM')
    const { code, signal } = await server.exited
    load.stopped = true
    await Promise.all(clients)
    t.same({ code, signal }, { code: 0, signal: null }, `round ${round}: exit 0`)
    t.match(server.stdout(), /"signal":"SIGTERM","msg":"shutting down"/)
  }
})
