import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Webhook } from 'standardwebhooks'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { ConsumerRegistry } from '../src/consumers.ts'
import { parseSubscriptions } from '../src/webhooks/subscriptions.ts'
import { run, runCommand } from './helpers/processes.ts'

t.test('keygen prints a new key once and the CONSUMERS entry that accepts it', async (t) => {
  const keygen = run(t, 'keygen.js', ['--name', 'billing', '--scopes', 'balance:read', '--rate-limit', '120'], {})
  t.equal((await keygen.exited).code, 0)
  const [, key, entry] = keygen.stdout().match(/^ {2}(\S+)\n.*\n {2}(\{.*\})$/m) ?? []
  t.match(key, /^[A-Za-z0-9_-]{43}$/)
  const consumer = JSON.parse(entry as string)
  t.same(Object.keys(consumer), ['name', 'key_sha256', 'scopes', 'rate_limit_per_minute'])
  t.match(consumer, { name: 'billing', scopes: ['balance:read'], rate_limit_per_minute: 120 })
  t.notOk((entry as string).includes(key as string), 'the entry holds only the hash')
  t.match(keygen.stdout(), `jq '. + [${entry as string}]' consumers.json`, 'and how to add it to an existing file')

  const config = loadConfig({ VOBIZ_AUTH_ID: 'a', VOBIZ_AUTH_TOKEN: 'b', CONSUMERS: `[${entry as string}]` })
  t.equal(new ConsumerRegistry(config.consumers).authenticate(key as string)?.name, 'billing', 'the pasted entry accepts the key')

  const again = run(t, 'keygen.js', ['--name', 'billing'], {})
  await again.exited
  t.notOk(again.stdout().includes(key as string), 'every run makes a new key')
  t.match(again.stdout(), /"scopes":\["profile:read"\]/, 'profile:read by default')
})

t.test('keygen --help prints the usage and exits 0; it runs from dist/ as the package bin, without a build', async (t) => {
  const help = run(t, 'keygen.js', ['--help'], {})
  t.equal((await help.exited).code, 0)
  t.match(help.stdout(), /^usage: node dist\/keygen\.js --name NAME[^]*--scopes[^]*--rate-limit[^]*--help/, 'run with node (as in the image): says so')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  t.same(pkg.bin, { 'vobiz-bff-keygen': 'dist/keygen.js' })
  t.equal(pkg.scripts.keygen, 'node dist/keygen.js', 'no tsc: works in a production install (npm ci --omit=dev)')
  t.match(readFileSync(new URL('../dist/keygen.js', import.meta.url), 'utf8'), /^#!\/usr\/bin\/env node\n/)
})

t.test('keygen refuses bad arguments with usage and exit code 2', async (t) => {
  const cases = [[], ['--name', 'bad name'], ['--name', 'x', '--scopes', 'admin'], ['--name', 'x', '--scopes', ','], ['--name', 'x', '--rate-limit', '0'], ['--bogus']]
  const runs = cases.map((args) => run(t, 'keygen.js', args, {}))
  for (const [i, keygen] of runs.entries()) {
    t.equal((await keygen.exited).code, 2, cases[i]!.join(' '))
    t.match(keygen.stderr(), /usage: node dist\/keygen\.js --name NAME/)
    t.equal(keygen.stdout(), '')
  }
})

t.test('keygen --webhook prints a Standard Webhooks secret that WEBHOOKS_FILE accepts and a verifier can use', async (t) => {
  const keygen = run(t, 'keygen.js', ['--webhook'], {})
  t.equal((await keygen.exited).code, 0)
  const [, secret] = keygen.stdout().match(/^ {2}(whsec_\S+)$/m) ?? []
  const problems: string[] = []
  parseSubscriptions(JSON.stringify([{ name: 'ledger', url: 'https://ledger.example/', events: ['balance'], secret }]), problems)
  t.same(problems, [])
  const webhook = new Webhook(secret as string)
  const at = new Date()
  const headers = { 'webhook-id': 'chg_1-0', 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': webhook.sign('chg_1-0', at, '{}') }
  t.same(webhook.verify('{}', headers), {})
})

t.test('keygen says how it was run: through npm\'s script, or node dist/keygen.js as in the image (no npm, no writable HOME)', async (t) => {
  const root = fileURLToPath(new URL('../', import.meta.url))
  const viaNpm = runCommand(t, 'npm run keygen', ['npm', 'run', '-s', 'keygen', '--', '--bogus'], { HOME: process.env.HOME ?? '/root' }, root)
  t.equal((await viaNpm.exited).code, 2)
  t.match(viaNpm.stderr(), /^usage: npm run keygen -- --name NAME/m, 'npm run keygen -- …')

  // The image: /app, a read-only root filesystem, HOME not writable (or not there at all).
  const app = mkdtempSync(join(tmpdir(), 'keygen-app-'))
  t.teardown(() => { rmSync(app, { recursive: true, force: true }) })
  cpSync(fileURLToPath(new URL('../dist', import.meta.url)), join(app, 'dist'), { recursive: true })
  cpSync(fileURLToPath(new URL('../package.json', import.meta.url)), join(app, 'package.json'))
  symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), join(app, 'node_modules'))
  const inPod = runCommand(t, 'keygen.js', [process.execPath, 'dist/keygen.js', '--name', 'billing'], { HOME: '/nonexistent' }, app)
  t.equal((await inPod.exited).code, 0, inPod.stderr())
  t.match(inPod.stdout(), /^CONSUMERS entry/m)
  const usage = runCommand(t, 'keygen.js', [process.execPath, 'dist/keygen.js'], { HOME: '/nonexistent' }, app)
  t.equal((await usage.exited).code, 2)
  t.match(usage.stderr(), /^usage: node dist\/keygen\.js --name NAME/m)
  const other = mkdtempSync(join(tmpdir(), 'keygen-cwd-'))
  t.teardown(() => { rmSync(other, { recursive: true, force: true }) })
  const elsewhere = runCommand(t, 'keygen.js', [process.execPath, join(app, 'dist/keygen.js'), '--help'], {}, other)
  await elsewhere.exited
  t.match(elsewhere.stdout(), `usage: node ${join(app, 'dist/keygen.js')} --name NAME`, 'from another directory: the path as given')
})
