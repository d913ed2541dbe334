import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { sha256Hex } from '../../src/consumers.ts'
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'
import { find, kubectlUnavailable, render } from '../helpers/kustomize.ts'
import { productionDependencies } from '../helpers/production-install.ts'
import { runCommand, type Running } from '../helpers/processes.ts'

/**
 * Whether the pods start under the security context the overlays render. The kubelet writes a Secret volume as
 * root-owned files of mode `defaultMode` in a `..data` directory swapped by symlink, and with `fsGroup` makes
 * them (and the directory) group fsGroup, which the container's user gets as a supplementary group. This lays
 * the volumes out that way in a temporary root, and starts the built server as that user and groups with
 * `setpriv` (as root, which these machines and CI are).
 */
const root = fileURLToPath(new URL('../../', import.meta.url))
const skip = kubectlUnavailable() ?? (process.getuid?.() !== 0
  ? 'not running as root: setpriv cannot start a process as another user'
  : spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0 ? 'setpriv (util-linux) is not installed' : undefined)

interface Container { env: Array<{ name: string, value: string }>, volumeMounts: Array<{ name: string, mountPath: string }> }
interface Volume { name: string, secret?: { secretName: string, defaultMode?: number, items?: Array<{ key: string, path: string }> }, configMap?: { name: string, defaultMode?: number }, emptyDir?: object }
interface Deployment { spec: { template: { spec: { securityContext: { runAsUser: number, runAsGroup: number, fsGroup?: number }, containers: Container[], volumes: Volume[] } } } }

const pod = skip === undefined ? find<Deployment>(render('overlays/single'), 'Deployment', 'vobiz-bff').spec.template.spec : undefined

/** The user's id and groups as setpriv arguments; `groups` undefined: none besides the primary (no fsGroup). */
function as (user: number, group: number, groups: number | undefined): string[] {
  return ['setpriv', `--reuid=${user}`, `--regid=${group}`, groups === undefined ? '--clear-groups' : `--groups=${groups}`]
}

/** Whether `user` (with no supplementary group) can read `path`, every directory above it included. */
function readable (user: number, group: number, path: string, test = '-r'): boolean {
  return spawnSync(as(user, group, undefined)[0] as string, [...as(user, group, undefined).slice(1), 'test', test, path], { stdio: 'ignore' }).status === 0
}

/**
 * The volumes of `container` under `base` as the kubelet writes them: files in a timestamped directory, `..data`
 * pointing at it, each key a symlink through `..data`; files root:fsGroup with the volume's mode, directories
 * root:fsGroup without access for others (stricter than the kubelet, so what starts here starts there).
 */
function layOut (base: string, container: Container, volumes: Volume[], contents: Record<string, Record<string, string>>, fsGroup: number): void {
  for (const mount of container.volumeMounts) {
    const volume = volumes.find((v) => v.name === mount.name) as Volume
    const dir = join(base, mount.mountPath)
    mkdirSync(dir, { recursive: true })
    chownSync(dir, 0, fsGroup)
    if (volume.emptyDir !== undefined) {
      chmodSync(dir, 0o2777)
      continue
    }
    chmodSync(dir, 0o2750)
    const source = volume.secret?.secretName ?? volume.configMap?.name as string
    const mode = volume.secret?.defaultMode ?? volume.configMap?.defaultMode ?? 0o644
    const data = join(dir, '..2026_12_07_00_00_00.000000001')
    mkdirSync(data)
    chownSync(data, 0, fsGroup)
    chmodSync(data, 0o2750)
    const keys = volume.secret?.items ?? Object.keys(contents[source] ?? {}).map((key) => ({ key, path: key }))
    for (const { key, path } of keys) {
      const file = join(data, path)
      writeFileSync(file, contents[source]?.[key] as string)
      chownSync(file, 0, fsGroup)
      chmodSync(file, mode)
      symlinkSync(`..data/${path}`, join(dir, path))
    }
    symlinkSync(data.split('/').at(-1) as string, join(dir, '..data'))
  }
}

/** The built app where `user` can read it: this checkout when it can, else a copy (dist, production dependencies, node). */
async function appFor (t: Test, user: number, group: number, base: string): Promise<{ node: string, server: string }> {
  let node = process.execPath
  if (!readable(user, group, node, '-x')) {
    node = join(base, 'node')
    copyFileSync(process.execPath, node)
    chmodSync(node, 0o755)
  }
  const server = join(root, 'dist/server.js')
  if (readable(user, group, server) && readable(user, group, join(root, 'node_modules/fastify/package.json'))) return { node, server }
  const app = join(base, 'app')
  cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true })
  cpSync(join(root, 'package.json'), join(app, 'package.json'))
  cpSync(await productionDependencies(), join(app, 'node_modules'), { recursive: true })
  t.comment(`${root} is not readable by uid ${user}: running a copy`)
  return { node, server: join(app, 'dist/server.js') }
}

/** The server as the pod runs it: the Deployment's environment, its files under `base`, and Vobiz replaced by `sandbox`. */
function start (t: Test, base: string, container: Container, sandbox: Sandbox, command: string[]): Running {
  const env: Record<string, string> = {}
  for (const { name, value } of container.env) env[name] = name.endsWith('_FILE') ? join(base, value) : value
  Object.assign(env, { HOST: '127.0.0.1', PORT: '0', VOBIZ_BASE_URL: sandbox.url })
  return runCommand(t, 'server.js', command, env)
}

t.test('the pod\'s user reads the Secrets the kubelet mounts with fsGroup, and the service becomes ready', { skip, timeout: 180_000 }, async (t) => {
  const spec = pod as Deployment['spec']['template']['spec']
  const { runAsUser, runAsGroup, fsGroup } = spec.securityContext
  t.ok(fsGroup !== undefined, 'the pod sets fsGroup')
  const container = spec.containers[0] as Container
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())

  const base = mkdtempSync(join(tmpdir(), 'pod-'))
  t.teardown(() => { rmSync(base, { recursive: true, force: true }) })
  chmodSync(base, 0o755)
  const key = randomBytes(24).toString('base64url')
  const metricsToken = randomBytes(24).toString('base64url')
  const contents = {
    'vobiz-credentials': { 'auth-id': sandbox.authId, 'auth-token': sandbox.authToken },
    'vobiz-bff-metrics': { token: metricsToken },
    'vobiz-bff-consumers': { 'consumers.json': JSON.stringify([{ name: 'svc', key_sha256: sha256Hex(key), scopes: ['profile:read'] }]) }
  }
  const withGroup = join(base, 'fs-group')
  layOut(withGroup, container, spec.volumes, contents, fsGroup as number)
  const { node, server: entry } = await appFor(t, runAsUser, runAsGroup, base)

  const server = start(t, withGroup, container, sandbox, [...as(runAsUser, runAsGroup, fsGroup), node, entry])
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  const status = readFileSync(`/proc/${server.child.pid as number}/status`, 'utf8')
  t.match(status, new RegExp(`^Uid:\\s+${runAsUser}\\s`, 'm'), `it runs as uid ${runAsUser}`)
  t.match(status, new RegExp(`^Groups:\\s+${fsGroup as number}\\s*$`, 'm'), `with the fsGroup ${fsGroup as number} as its only supplementary group`)
  t.equal((await httpGet(`${url as string}/health/ready`)).status, 200, 'ready')
  t.equal((await httpGet(`${url as string}/profile`, { 'x-api-key': key })).status, 200, 'serves with the Vobiz credentials and consumers read from the mounted files')
  t.equal((await httpGet(`${url as string}/metrics`, { authorization: `Bearer ${metricsToken}` })).status, 200, 'and /metrics with the mounted token')
  server.child.kill('SIGTERM')
  t.equal((await server.exited).code, 0)

  // Without fsGroup the kubelet leaves the files root:root, and the user has no group that reads them: the
  // pod never becomes ready (it exits at start, naming the variable).
  const noGroup = join(base, 'no-fs-group')
  layOut(noGroup, container, spec.volumes, contents, 0)
  const secretFile = join(noGroup, container.env.find((e) => e.name === 'VOBIZ_AUTH_ID_FILE')?.value as string)
  t.notOk(readable(runAsUser, runAsGroup, secretFile), 'root:root 0440: the user cannot read it')
  const without = start(t, noGroup, container, sandbox, [...as(runAsUser, runAsGroup, undefined), node, entry])
  const outcome = await Promise.race([without.exited.then(({ code }) => code), without.waitFor(/"url":"/).then(() => 'ready', async () => (await without.exited).code)])
  t.equal(outcome, 1, 'without fsGroup: exit 1')
  t.match(without.stdout() + without.stderr(), /VOBIZ_AUTH_ID_FILE: cannot read "[^"]+" \(EACCES\)/, 'naming the variable whose file it cannot read')
})
