import t from 'tap'
import { startSandbox } from '../src/sandbox/sandbox.ts'
import { httpGet } from './helpers/harness.ts'
import { run, runServerAgainst } from './helpers/processes.ts'

t.test('sandbox mode: listens on loopback only, prints the URL, a demo key and a curl that works, exits 0 on SIGTERM', async (t) => {
  const server = run(t, 'server.js', [], { VOBIZ_SANDBOX: 'true', PORT: '0' })
  const [, url, key] = await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\n\s+Loopback only[^\n]*\n\s+Demo API key[^:]*: (\S+)/)
  const curl = await server.waitFor(/Try: curl -s -H 'X-API-Key: (\S+)' (\S+)\/profile\n/)
  t.equal(curl[1], key)
  t.equal(curl[2], url)

  const res = await httpGet(`${url}/profile`, { 'x-api-key': key as string })
  t.equal(res.status, 200)
  t.equal(res.json().id, 'partner-882abc')
  const balance = await httpGet(`${url}/profile/balance`, { 'x-api-key': key as string })
  t.equal(balance.json().currency, 'INR')
  t.match(server.stdout(), /SANDBOX MODE: Vobiz is simulated/, 'the log says the data is simulated')

  server.child.kill('SIGTERM')
  const { code } = await server.exited
  t.equal(code, 0)
  t.match(server.stdout(), /"signal":"SIGTERM","msg":"shutting down"/)
})

t.test('production mode against a Vobiz origin: JSON logs, credentials never printed', async (t) => {
  const sandbox = await startSandbox({ authId: 'MA_DISTINCT_AUTH_ID', authToken: 'DISTINCT-TOKEN-VALUE' })
  t.teardown(() => sandbox.close())
  const key = 'consumer-key-for-the-server-test'
  const server = await runServerAgainst(t, sandbox, key)
  const res = await httpGet(`${server.url}/profile`, { 'x-api-key': key })
  t.equal(res.status, 200)
  t.equal(sandbox.requests, 1)
  server.child.kill('SIGINT')
  t.equal((await server.exited).code, 0)

  const output = server.stdout() + server.stderr()
  for (const line of server.stdout().trim().split('\n')) t.doesNotThrow(() => JSON.parse(line), 'every stdout line is JSON')
  for (const secret of [sandbox.authId, sandbox.authToken, key]) t.notOk(output.includes(secret), 'no secret in the output')
  t.notMatch(output, /SANDBOX/)
})

t.test('a bad configuration stops start-up with exit code 1 and one line per problem', async (t) => {
  const server = run(t, 'server.js', [], { PORT: 'x', VOBIZ_AUTH_TOKEN: 'TOPSECRET-TOKEN', VOBIZ_BASE_URL: 'http://vobiz.example' })
  const { code } = await server.exited
  t.equal(code, 1)
  const lines = server.stderr().trim().split('\n')
  t.equal(lines[0], 'vobiz-partner-bff: invalid configuration:')
  t.match(lines.slice(1).map((l) => l.trim().split(':')[0]), ['PORT', 'VOBIZ_BASE_URL', 'VOBIZ_AUTH_ID', 'CONSUMERS'])
  t.notMatch(server.stderr(), /TOPSECRET/)
  t.equal(server.stdout(), '')
})

t.test('a port already in use is a clear fatal error, exit 1', async (t) => {
  const first = run(t, 'server.js', [], { VOBIZ_SANDBOX: 'true', HOST: '127.0.0.1', PORT: '0' })
  const [, port] = await first.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/)
  const second = run(t, 'server.js', [], { VOBIZ_SANDBOX: 'true', HOST: '127.0.0.1', PORT: port as string })
  t.equal((await second.exited).code, 1)
  t.match(second.stdout(), new RegExp(`cannot listen on 127.0.0.1:${port as string}`))
})
