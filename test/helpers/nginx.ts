import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { directory } from './files.ts'
import { freePort } from './redis.ts'
import { until } from './time.ts'

/**
 * A real nginx (Debian's `nginx` package) in front of the test's replicas, running the shipped
 * deploy/nginx/vobiz-bff.conf with only its addresses changed. Without the binary the tests that need it are
 * skipped with a message, unless REQUIRE_NGINX=1 (CI), which makes that a failure.
 */
export interface Nginx {
  /** http://127.0.0.1:<port>, nginx's listener. */
  url: string
  /** The access log so far: one entry per request nginx has finished (a stream: once it has ended). */
  requests: () => NginxRequest[]
  stderr: () => string
}

/** One access-log line: what nginx answered, and each replica it tried (in order) with what that replica did. */
export interface NginxRequest {
  status: number
  uri: string
  /** `127.0.0.1:<port>` per try. */
  upstreams: string[]
  /** Per try: the status, or 502 / 504 for a connection that failed or timed out. */
  upstreamStatuses: string[]
  lastEventId: string
}

/** On PATH, else where Debian puts it (/usr/sbin is not on every user's PATH). */
const BINARY = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).error === undefined ? 'nginx' : '/usr/sbin/nginx'
export const SHIPPED_CONFIG = fileURLToPath(new URL('../../deploy/nginx/vobiz-bff.conf', import.meta.url))

/** Why nginx tests cannot run here, or undefined when they can. */
export function nginxUnavailable (): string | undefined {
  const probe = spawnSync(BINARY, ['-v'], { stdio: 'ignore' })
  if (probe.error === undefined && probe.status === 0) return undefined
  const reason = 'nginx is not installed (apt-get install nginx); the reverse-proxy tests are skipped'
  if (process.env.REQUIRE_NGINX === '1') throw new Error(`REQUIRE_NGINX=1 but ${reason}`)
  return reason
}

/**
 * The shipped config with the test's addresses: its `listen 80;` on a loopback port, and its upstream's
 * example servers replaced by `upstreams`, each with the parameters the shipped servers have. Throws if the
 * file no longer has the shape this expects, so that the test never runs something else than what ships.
 */
export function renderConfig (text: string, listenPort: number, upstreams: number[]): string {
  const listens = text.match(/^\s*listen\s+80;$/gm) ?? []
  if (listens.length !== 1) throw new Error(`expected one "listen 80;" in ${SHIPPED_CONFIG}, found ${listens.length}`)
  const servers = [...text.matchAll(/^(\s*)server\s+\d+\.\d+\.\d+\.\d+:\d+((?:\s+[a-z_]+=\S+)*);\n/gm)]
  const [first] = servers
  if (first === undefined || servers.length < 2) throw new Error(`expected two or more upstream servers in ${SHIPPED_CONFIG}`)
  const [, indent, params] = first
  const ours = upstreams.map((port) => `${indent ?? ''}server 127.0.0.1:${port}${params ?? ''};\n`).join('')
  let rendered = text.replace(/^(\s*)listen\s+80;$/m, `$1listen 127.0.0.1:${listenPort};`)
  for (const [line] of servers.slice(1)) rendered = rendered.replace(line, '')
  return rendered.replace(first[0], ours)
}

const FORMAT = '$status|$request_uri|$upstream_addr|$upstream_status|$http_last_event_id'

function parseLine (line: string): NginxRequest {
  const [status = '', uri = '', addrs = '', statuses = '', lastEventId = ''] = line.split('|')
  const list = (value: string): string[] => value === '-' || value === '' ? [] : value.split(', ')
  return { status: Number(status), uri, upstreams: list(addrs), upstreamStatuses: list(statuses), lastEventId: lastEventId === '-' ? '' : lastEventId }
}

/**
 * Starts nginx as a child of the test (no daemon, one process, everything it writes in a temporary
 * directory) on a free loopback port in front of `upstreams` (loopback ports), with the shipped config;
 * stopped when `t` ends. Resolves once it accepts connections (no request is sent: nothing reaches a replica).
 */
export async function startNginx (t: Test, upstreams: number[]): Promise<Nginx> {
  const port = await freePort()
  const dir = directory(t, { 'vobiz-bff.conf': renderConfig(readFileSync(SHIPPED_CONFIG, 'utf8'), port, upstreams) })
  const main = [
    'events { worker_connections 256; }',
    'http {',
    `  log_format test '${FORMAT}';`,
    `  access_log ${join(dir, 'access.log')} test;`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(dir, kind)};`),
    `  include ${join(dir, 'vobiz-bff.conf')};`,
    '}'
  ].join('\n')
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, main)
  // One process (no master/worker split): nothing is left behind when it is killed, and one balancer state.
  const child = spawn(BINARY, ['-e', 'stderr', '-p', `${dir}/`, '-c', conf, '-g', `daemon off; master_process off; pid ${join(dir, 'nginx.pid')}; error_log stderr notice;`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  })
  await until('nginx to accept connections', async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}):\n${stderr}`)
    return await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.on('connect', () => { socket.destroy(); resolve(true) })
      socket.on('error', () => { resolve(false) })
    })
  })
  const log = join(dir, 'access.log')
  const requests = (): NginxRequest[] => {
    let text = ''
    try { text = readFileSync(log, 'utf8') } catch {}
    return text.split('\n').filter((line) => line !== '').map(parseLine)
  }
  return { url: `http://127.0.0.1:${port}`, requests, stderr: () => stderr }
}
