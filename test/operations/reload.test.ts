import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { generateApiKey, sha256Hex } from '../../src/consumers.ts'
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts'
import { directory, replaceFile } from '../helpers/files.ts'
import { httpGet } from '../helpers/harness.ts'
import { run, type Running } from '../helpers/processes.ts'
import { until } from '../helpers/time.ts'

// Hot reload against the built server: files change under it, and nothing restarts.

const consumersJson = (entries: Array<[string, string]>): string =>
  JSON.stringify(entries.map(([name, key]) => ({ name, key_sha256: sha256Hex(key), scopes: ['profile:read'] })))

async function start (t: Test, sandbox: Sandbox, env: Record<string, string>): Promise<Running & { url: string }> {
  const server = run(t, 'server.js', [], {
    HOST: '127.0.0.1',
    PORT: '0',
    VOBIZ_BASE_URL: sandbox.url,
    STARTUP_FETCH: 'false',
    METRICS_TOKEN: 'reload-test-metrics-token',
    ...env
  })
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  return { ...server, url: url as string }
}

const status = async (url: string, key: string): Promise<number> => (await httpGet(`${url}/profile`, { 'x-api-key': key })).status
const reloads = async (url: string, result: string): Promise<number> => {
  const text = (await httpGet(`${url}/metrics`, { authorization: 'Bearer reload-test-metrics-token' })).text
  return Number(new RegExp(`^vobiz_bff_config_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
}

t.test('CONSUMERS_FILE: a key added works and a revoked one gets 401 without a restart; an invalid file is refused whole, once', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const dir = directory(t)
  const file = join(dir, 'consumers.json')
  const [a, b] = [generateApiKey(), generateApiKey()]
  writeFileSync(file, consumersJson([['alpha', a]]))
  const server = await start(t, sandbox, { VOBIZ_AUTH_ID: sandbox.authId, VOBIZ_AUTH_TOKEN: sandbox.authToken, CONSUMERS_FILE: file })
  t.equal(await status(server.url, a), 200)
  t.equal(await status(server.url, b), 401)

  replaceFile(file, consumersJson([['alpha', a], ['beta', b]]))
  await until('the added consumer to be let in', async () => await status(server.url, b) === 200)
  // Log lines are written asynchronously: waited for, not read at once.
  await server.waitFor(/"added":\["beta"\],"removed":\[\],"changed":\[\],"msg":"consumers reloaded"/)

  replaceFile(file, consumersJson([['beta', b]]))
  await until('the revoked key to be refused', async () => await status(server.url, a) === 401)
  t.equal(await status(server.url, b), 200)
  await server.waitFor(/"consumers":1,"added":\[\],"removed":\["alpha"\]/)

  replaceFile(file, '[{"name":"gamma","key_sha256":"not-hex","scopes":["profile:read"]}]')
  await server.waitFor(/consumers not reloaded, the previous ones stay: CONSUMERS_FILE: entry \/0\/key_sha256/)
  t.equal(await status(server.url, b), 200, 'the previous set still serves')
  replaceFile(file, consumersJson([['beta', b], ['alpha', a]]))
  await until('the fixed file to be loaded', async () => await status(server.url, a) === 200)
  await server.waitFor(/"consumers":2,"added":\["alpha"\]/)
  t.equal(server.stdout().split('\n').filter((line) => line.includes('consumers not reloaded')).length, 1, 'the refusal logged once, not once per poll')
  t.equal(await reloads(server.url, 'ok'), 3)
  t.equal(await reloads(server.url, 'error'), 1)
  for (const key of [a, b]) t.notOk(server.stdout().includes(key), 'keys never logged')
})

t.test('a Kubernetes-style mount: the ..data symlink swapped atomically is seen; SIGHUP reloads and the process keeps running', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const dir = directory(t)
  const [a, b] = [generateApiKey(), generateApiKey()]
  // What the kubelet does: each version in a directory of its own, ..data pointing at the current one, and the
  // file a symlink through ..data.
  const version = (name: string, content: string): void => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'consumers.json'), content)
  }
  version('..v1', consumersJson([['alpha', a]]))
  symlinkSync('..v1', join(dir, '..data'))
  symlinkSync(join('..data', 'consumers.json'), join(dir, 'consumers.json'))
  const server = await start(t, sandbox, { VOBIZ_AUTH_ID: sandbox.authId, VOBIZ_AUTH_TOKEN: sandbox.authToken, CONSUMERS_FILE: join(dir, 'consumers.json') })
  t.equal(await status(server.url, a), 200)

  version('..v2', consumersJson([['beta', b]]))
  symlinkSync('..v2', join(dir, '..data_tmp'))
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'))
  await until('the swap to be seen', async () => await status(server.url, a) === 401)
  t.equal(await status(server.url, b), 200)

  server.child.kill('SIGHUP')
  await server.waitFor(/"msg":"SIGHUP: reloading"/)
  t.equal(server.child.exitCode, null, 'SIGHUP does not end the process')
  t.equal(await status(server.url, b), 200)
})

t.test('VOBIZ_AUTH_TOKEN_FILE: a rotation needs no restart; a fetch in flight finishes with the old token, the next uses the new one', async (t) => {
  const sandbox = await startSandbox({ authToken: 'first-token-0123456789' })
  t.teardown(() => sandbox.close())
  const dir = directory(t)
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'first-token-0123456789\n')
  const key = generateApiKey()
  const server = await start(t, sandbox, {
    VOBIZ_AUTH_ID: sandbox.authId,
    VOBIZ_AUTH_TOKEN_FILE: tokenFile,
    CONSUMERS: consumersJson([['svc', key]])
  })
  // A fetch in flight while the token changes.
  sandbox.hold()
  const inFlight = httpGet(`${server.url}/profile`, { 'x-api-key': key })
  await sandbox.received(1)
  replaceFile(tokenFile, 'second-token-9876543210\n')
  await server.waitFor(/"changed":\["VOBIZ_AUTH_TOKEN"\],"msg":"vobiz credentials reloaded/)
  sandbox.release()
  t.equal((await inFlight).status, 200, 'the fetch in flight finished with the token it was sent with')
  t.equal(sandbox.recorded[0]?.headers['x-auth-token'], 'first-token-0123456789')

  sandbox.authToken = 'second-token-9876543210'
  const next = await httpGet(`${server.url}/profile/balance`, { 'x-api-key': key, 'cache-control': 'no-cache' })
  t.equal(next.status, 200, 'the next fetch used the new token')
  t.equal(sandbox.recorded[1]?.headers['x-auth-token'], 'second-token-9876543210')
  const output = server.stdout() + server.stderr()
  for (const secret of ['first-token-0123456789', 'second-token-9876543210']) t.notOk(output.includes(secret), 'no token logged')

  replaceFile(tokenFile, '\n')
  await server.waitFor(/vobiz credentials not reloaded, the previous ones stay: VOBIZ_AUTH_TOKEN_FILE: not a usable VOBIZ_AUTH_TOKEN/)
  const still = await httpGet(`${server.url}/profile/balance`, { 'x-api-key': key, 'cache-control': 'no-cache' })
  t.equal(still.status, 200, 'an empty file is refused: the last good token stays')

  // Vobiz stops accepting the token: the line says where the operator put it.
  sandbox.authToken = 'third-token-5555555555'
  await httpGet(`${server.url}/profile/balance`, { 'x-api-key': key, 'cache-control': 'no-cache' })
  const [line] = await server.waitFor(/"msg":"vobiz rejected the partner credentials: [^"]*"/)
  t.equal(line, `"msg":"vobiz rejected the partner credentials: check VOBIZ_AUTH_ID / VOBIZ_AUTH_TOKEN_FILE (${tokenFile})"`)
})
