import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startSandbox } from '../src/sandbox/sandbox.ts'
import { httpGet } from './helpers/harness.ts'
import { directory } from './helpers/files.ts'
import { run, runServerAgainst, serverEnv } from './helpers/processes.ts'

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

t.test('.env in the working directory is read at start, and the environment wins: cp .env.example .env with the sandbox line uncommented starts', async (t) => {
  const dir = directory(t, { '.env': readFileSync(new URL('../.env.example', import.meta.url), 'utf8').replace('# VOBIZ_SANDBOX=true', 'VOBIZ_SANDBOX=true') })
  const server = run(t, 'server.js', [], { PORT: '0' }, [], dir)
  const [, url, key] = await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\n\s+Loopback only[^\n]*\n\s+Demo API key[^:]*: (\S+)/)
  t.not(new URL(url as string).port, '3000', 'PORT from the environment, not .env\'s 3000')
  t.equal((await httpGet(`${url}/profile`, { 'x-api-key': key as string })).status, 200)
  // Log lines are written asynchronously: waited for, not read at once.
  t.ok(await server.waitFor(/"envFile":".env"/), 'the ready line says .env was read')
  server.child.kill('SIGTERM')
  t.equal((await server.exited).code, 0)
})

t.test('secrets from files (VOBIZ_AUTH_ID_FILE, VOBIZ_AUTH_TOKEN_FILE, METRICS_TOKEN_FILE): trailing newline ignored, never printed; both forms set is an error', async (t) => {
  const sandbox = await startSandbox({ authId: 'MA_FILE_AUTH_ID', authToken: 'FILE-TOKEN-VALUE-0123' })
  t.teardown(() => sandbox.close())
  const dir = directory(t, { id: `${sandbox.authId}\n`, token: `${sandbox.authToken}\r\n`, metrics: 'metrics-token-from-a-file\n' })
  const key = 'consumer-key-for-the-file-test'
  // The credentials from the files only.
  const env: Record<string, string> = {
    ...serverEnv(sandbox, key),
    VOBIZ_AUTH_ID_FILE: join(dir, 'id'),
    VOBIZ_AUTH_TOKEN_FILE: join(dir, 'token'),
    METRICS_TOKEN_FILE: join(dir, 'metrics')
  }
  delete env.VOBIZ_AUTH_ID
  delete env.VOBIZ_AUTH_TOKEN
  const server = run(t, 'server.js', [], env)
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  t.equal((await httpGet(`${url}/profile`, { 'x-api-key': key })).status, 200, 'Vobiz accepted the credentials read from the files')
  t.equal((await httpGet(`${url}/metrics`, { authorization: 'Bearer metrics-token-from-a-file' })).status, 200)
  server.child.kill('SIGTERM')
  await server.exited
  for (const secret of [sandbox.authId, sandbox.authToken, 'metrics-token-from-a-file']) t.notOk((server.stdout() + server.stderr()).includes(secret), 'no secret printed')

  const both = run(t, 'server.js', [], { ...env, VOBIZ_AUTH_TOKEN: sandbox.authToken })
  t.equal((await both.exited).code, 1)
  t.match(both.stderr(), /VOBIZ_AUTH_TOKEN, VOBIZ_AUTH_TOKEN_FILE: both are set/)
  t.notOk(both.stderr().includes(sandbox.authToken))
})

t.test('start-up: one warning per misspelt variable, and the ready line lists what is enabled without a secret', async (t) => {
  const sandbox = await startSandbox({ authId: 'MA_FEATURES_AUTH_ID', authToken: 'FEATURES-TOKEN-VALUE-01' })
  t.teardown(() => sandbox.close())
  const key = 'consumer-key-for-the-features-test'
  const server = run(t, 'server.js', [], {
    ...serverEnv(sandbox, key),
    METRICS_TOKEN: 'features-metrics-token-0123',
    CORS_ORIGINS: 'https://app.example.com',
    PROFILE_TTL_SECOND: '5'
  })
  const [ready] = await server.waitFor(/\{[^\n]*"msg":"vobiz-partner-bff ready"\}/)
  t.match(JSON.parse(ready as string).features, {
    auth: { apiKeys: 1, consumersFile: false, jwt: false },
    cors: ['https://app.example.com'],
    docs: true,
    metrics: true,
    redis: false,
    ttlSeconds: { profile: 30, balance: 5 },
    sandbox: false,
    startupFetch: false,
    accessLog: true
  })
  t.match(server.stdout(), /"level":40,[^\n]*"msg":"PROFILE_TTL_SECOND is not a variable of this service and is ignored; did you mean PROFILE_TTL_SECONDS\?"/)
  for (const secret of [sandbox.authId, sandbox.authToken, 'features-metrics-token-0123', key]) t.notOk(server.stdout().includes(secret))

  const strict = run(t, 'server.js', [], { VOBIZ_SANDBOX: 'true', PORT: '0', PROFILE_TTL_SECOND: '5', STRICT_CONFIG: 'true' })
  t.equal((await strict.exited).code, 1)
  t.match(strict.stderr(), /PROFILE_TTL_SECOND is not a variable of this service \(STRICT_CONFIG=true: start-up stops\); did you mean PROFILE_TTL_SECONDS\?/)
})
