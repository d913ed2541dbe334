import { unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { generateApiKey, sha256Hex } from '../../src/consumers.ts'
import { directory, replaceFile } from '../helpers/files.ts'
import { startHarness } from '../helpers/harness.ts'
import { until } from '../helpers/time.ts'

// The reload paths in process (the built server's behaviour is test/operations/reload.test.ts's).

const list = (entries: Array<[string, string]>): string =>
  JSON.stringify(entries.map(([name, key]) => ({ name, key_sha256: sha256Hex(key), scopes: ['profile:read'] })))

t.test('consumers: swapped whole, refused whole (bad entries, an empty list, a missing file), and told to the log filter', async (t) => {
  const dir = directory(t)
  const file = join(dir, 'consumers.json')
  const [a, b] = [generateApiKey(), generateApiKey()]
  writeFileSync(file, list([['alpha', a]]))
  // The Vobiz id from a file in the same directory: one watcher serves both.
  writeFileSync(join(dir, 'auth-id'), 'MA_RELOAD_TEST_ID\n')
  const h = await startHarness(t, { sandbox: { authId: 'MA_RELOAD_TEST_ID' }, env: { CONSUMERS: '', CONSUMERS_FILE: file, VOBIZ_AUTH_ID: '', VOBIZ_AUTH_ID_FILE: join(dir, 'auth-id') } })
  const status = async (key: string): Promise<number> => (await h.get('/profile', { 'x-api-key': key })).status
  t.equal(await status(a), 200)
  const refusals = (): string[] => h.logs.filter((l) => l.reload === 'consumers' && l.level === 50).map((l) => String(l.msg))

  replaceFile(file, list([['alpha', a], ['alpha', b]]))
  await until('the duplicate name to be refused', () => refusals().length === 1)
  t.match(refusals()[0], /consumer name "alpha" appears twice/)
  replaceFile(file, '[]')
  await until('the empty list to be refused', () => refusals().length === 2)
  t.match(refusals()[1], /no consumer configured/)
  unlinkSync(file)
  await until('the missing file to be refused', () => refusals().length === 3)
  t.match(refusals()[2], /cannot read ".*consumers\.json" \(ENOENT\)/)
  t.equal(await status(a), 200, 'the first set still serves')

  replaceFile(file, list([['beta', b]]))
  await until('the new set', async () => await status(b) === 200)
  t.equal(await status(a), 401)
  h.app.log.info({ leaked: b, revoked: a }, 'keys that should never be logged')
  t.notOk(h.rawLogs().includes(b), 'the new consumer\'s key is scrubbed from the log')
  t.notOk(h.rawLogs().includes(a), 'and a revoked one still is')

  // SIGHUP reloads even when nothing changed.
  process.emit('SIGHUP', 'SIGHUP')
  await until('the forced reload to be logged', () => h.logs.filter((l) => l.msg === 'consumers reloaded').length === 2)
  t.match(h.logs.filter((l) => l.msg === 'consumers reloaded').at(-1), { added: [], removed: [], changed: [] })
})

t.test('Vobiz credentials: a new token is used from the next fetch and scrubbed from the log; an unusable one and an unchanged one change nothing', async (t) => {
  const dir = directory(t)
  const tokenFile = join(dir, 'token')
  writeFileSync(tokenFile, 'initial-token-0123456789\n')
  const h = await startHarness(t, { sandbox: { authToken: 'initial-token-0123456789' }, env: { VOBIZ_AUTH_TOKEN: '', VOBIZ_AUTH_TOKEN_FILE: tokenFile } })
  const key = { 'x-api-key': h.keys.profile }
  t.equal((await h.get('/profile', key)).status, 200)

  process.emit('SIGHUP', 'SIGHUP')
  await until('the SIGHUP to be handled', () => h.logs.some((l) => l.msg === 'SIGHUP: reloading'))
  t.notOk(h.logs.some((l) => String(l.msg).startsWith('vobiz credentials reloaded')), 'the same token: nothing to do')

  replaceFile(tokenFile, '')
  await until('the empty token to be refused', () => h.logs.some((l) => /vobiz credentials not reloaded.*not a usable VOBIZ_AUTH_TOKEN/.test(String(l.msg))))

  replaceFile(tokenFile, 'rotated-token-0123456789\n')
  await until('the new token to be taken', () => h.logs.some((l) => String(l.msg).startsWith('vobiz credentials reloaded')))
  h.sandbox.authToken = 'rotated-token-0123456789'
  t.equal((await h.get('/profile/balance', { ...key, 'cache-control': 'no-cache' })).status, 200, 'the next fetch used it')
  t.equal(h.sandbox.recorded.at(-1)?.headers['x-auth-token'], 'rotated-token-0123456789')
  h.app.log.info({ token: 'rotated-token-0123456789' }, 'a token that should never be logged')
  t.notOk(h.rawLogs().includes('rotated-token-0123456789'))
})

t.test('SIGHUP with nothing read from files is answered with a log line', async (t) => {
  const h = await startHarness(t)
  process.emit('SIGHUP', 'SIGHUP')
  await until('the SIGHUP to be handled', () => h.logs.some((l) => l.msg === 'SIGHUP: nothing is read from files, nothing to reload'))
})
