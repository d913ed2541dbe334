import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { httpGet } from '../helpers/harness.ts'
import { productionDependencies } from '../helpers/production-install.ts'
import { run, untracked } from '../helpers/processes.ts'

const execFileAsync = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))

/**
 * No Docker engine runs here, so this reproduces the image's steps: a clean copy of the built app, installed
 * with `npm ci --omit=dev` as in the Dockerfile's deps stage, started with the Dockerfile's own CMD (node and its
 * flags, the same as `npm start`'s) — proving that nothing at runtime imports a devDependency and that this
 * node accepts the flags — and probed with the Dockerfile's own HEALTHCHECK command.
 */
t.test('the production install starts, passes its HEALTHCHECK, serves, and stops cleanly', { timeout: 180_000 }, async (t) => {
  const app = mkdtempSync(join(tmpdir(), 'image-'))
  cpSync(join(root, 'package.json'), join(app, 'package.json'))
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true })
  symlinkSync(await productionDependencies(), join(app, 'node_modules'))
  const installed = JSON.parse(readFileSync(join(app, 'node_modules/.package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  t.notOk(Object.values(installed.packages).some((p) => p.dev === true), 'no devDependency was installed')
  t.notOk(Object.keys(installed.packages).includes('node_modules/tap'))

  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
  const command = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[]
  t.same([command[0], command.at(-1)], ['node', 'dist/server.js'])
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
  t.equal(scripts.start, command.join(' '), '`npm start` runs what the image runs')
  const server = run(t, join(app, 'dist/server.js'), [], { NODE_ENV: 'production', VOBIZ_SANDBOX: 'true', HOST: '127.0.0.1', PORT: '0' }, command.slice(1, -1))
  const [, url, key] = await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\n(?:.*\n)?\s+Demo API key[^:]*: (\S+)/)
  const profile = await httpGet(`${url}/profile`, { 'x-api-key': key as string })
  t.equal(profile.status, 200)
  t.equal(profile.json().id, 'partner-882abc')

  const healthcheck = JSON.parse(/HEALTHCHECK[^\n]*\\\n\s+CMD (\[.*\])/.exec(dockerfile)?.[1] ?? '[]') as string[]
  t.equal(healthcheck[0], 'node', 'the HEALTHCHECK uses node (slim images have no curl)')
  const port = new URL(url as string).port
  const probe = await execFileAsync(...untracked([process.execPath, ...healthcheck.slice(1)]), { env: { PORT: port } }).then(() => 0, (err: { code: number }) => err.code)
  t.equal(probe, 0, 'the HEALTHCHECK passes against the running app')

  server.child.kill('SIGTERM')
  t.equal((await server.exited).code, 0)
  const failing = await execFileAsync(...untracked([process.execPath, ...healthcheck.slice(1)]), { env: { PORT: port } }).then(() => 0, (err: { code: number }) => err.code)
  t.equal(failing, 1, 'and fails once the app is gone')
})
