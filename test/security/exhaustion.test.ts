import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { sha256Hex } from '../../src/consumers.ts'
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'
import { run, runWithFileLimit, type Running } from '../helpers/processes.ts'
import { until } from '../helpers/time.ts'

/**
 * What a hostile client or a hung log reader does to the real server process: each test starts dist/server.js
 * in a child process (with a small open-files limit where descriptors are the point) and checks that it
 * lives, keeps serving, stays bounded and recovers by itself.
 */

const KEY = 'exhaustion-test-consumer-key'
const METRICS_TOKEN = 'exhaustion-metrics-token-0123'

function productionEnv (sandbox: Sandbox, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    VOBIZ_BASE_URL: sandbox.url,
    VOBIZ_AUTH_ID: sandbox.authId,
    VOBIZ_AUTH_TOKEN: sandbox.authToken,
    CONSUMERS: JSON.stringify([{ name: 'svc', key_sha256: sha256Hex(KEY), scopes: ['profile:read'] }]),
    METRICS_TOKEN,
    // Idle sockets must stay idle for the length of the test: the timeouts are not what is tested here.
    HEADERS_TIMEOUT_MS: '120000',
    REQUEST_TIMEOUT_MS: '120000',
    KEEP_ALIVE_TIMEOUT_MS: '120000',
    ...extra
  }
}

async function sandboxFor (t: Test): Promise<Sandbox> {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  return sandbox
}

/** One keep-alive connection made before the flood, sending requests one at a time on the same socket. */
class EstablishedConnection {
  readonly #socket: Socket
  #buffer = ''
  #waiting: ((response: string) => void) | undefined

  private constructor (socket: Socket) {
    this.#socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString()
      const end = this.#buffer.indexOf('\r\n\r\n')
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(this.#buffer)?.[1] ?? NaN)
      if (end === -1 || Number.isNaN(length) || this.#buffer.length < end + 4 + length) return
      const response = this.#buffer.slice(0, end + 4 + length)
      this.#buffer = this.#buffer.slice(end + 4 + length)
      this.#waiting?.(response)
    })
  }

  static async open (port: number): Promise<EstablishedConnection> {
    const socket = connect(port, '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    return new EstablishedConnection(socket)
  }

  get closed (): boolean {
    return this.#socket.destroyed || this.#socket.readableEnded
  }

  /** Sends a GET and resolves with the raw response (status line, headers, body). */
  async get (path: string, headers: Record<string, string> = {}): Promise<string> {
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('')
    const answered = new Promise<string>((resolve) => { this.#waiting = resolve })
    this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n${lines}\r\n`)
    return await answered
  }

  close (): void {
    this.#socket.destroy()
  }
}

/** `count` connections that send nothing; `closedByServer` counts those the server dropped. */
function flood (port: number, count: number): { sockets: Socket[], closedByServer: () => number } {
  let closed = 0
  const sockets = Array.from({ length: count }, () => {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.on('close', () => { closed += 1 })
    return socket
  })
  return { sockets, closedByServer: () => closed }
}

function lines (server: Running, pattern: RegExp): string[] {
  return server.stdout().split('\n').filter((line) => pattern.test(line))
}

function metric (text: string, name: string): number {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN)
}

for (const maxConnections of [undefined, '2000']) {
  const setting = maxConnections === undefined ? 'derived from ulimit -n 256' : `MAX_CONNECTIONS=${maxConnections} over ulimit -n 256`
  t.test(`past the connection cap (${setting}), new connections are dropped and counted while established ones are served; then it recovers`, async (t) => {
    const sandbox = await sandboxFor(t)
    const server = runWithFileLimit(t, 'server.js', 256, productionEnv(sandbox, maxConnections === undefined ? {} : { MAX_CONNECTIONS: maxConnections }))
    const [, url, max] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)".*"maxConnections":(\d+)/)
    t.equal(Number(max), 192, 'the limit of 256 less 64 kept for Vobiz, Redis and logs')
    t.equal(lines(server, /is more than the open-files limit \(256\) can hold: capped at 192/).length, maxConnections === undefined ? 0 : 1, 'a MAX_CONNECTIONS the descriptors cannot hold is lowered, with one line')
    const port = Number(new URL(url as string).port)
    const established = await EstablishedConnection.open(port)
    t.match(await established.get('/health/live'), /^HTTP\/1\.1 200 /)

    const { sockets, closedByServer } = flood(port, 400)
    await until('the connections past the limit to be dropped', () => closedByServer() === 400 - 191)
    t.match(await established.get('/profile', { 'x-api-key': KEY }), /^HTTP\/1\.1 200 /, 'the established connection is served during the flood')
    const metrics = await established.get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` })
    t.equal(metric(metrics, 'vobiz_bff_connections_refused_total'), 209, 'each dropped connection is counted')
    t.equal(lines(server, /connection limit reached/).length, 1, 'one log line for the episode, not one per connection')

    for (const socket of sockets) socket.destroy()
    await until('a new connection to be served again', async () => (await httpGet(`${url}/health/live`).catch(() => ({ status: 0 }))).status === 200)
    // Probes sent before the server has seen the flood's sockets close may be dropped too, so the episode's
    // count is at least 209 and equals the counter once no more are dropped.
    await until('the end of the episode to be logged', () => lines(server, /accepting connections again/).length === 1)
    const logged = Number(/accepting connections again; (\d+) were dropped/.exec(lines(server, /accepting connections again/)[0] as string)?.[1])
    t.ok(logged >= 209, `the end of the episode is logged with its count (${logged})`)
    const after = await established.get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` })
    t.equal(metric(after, 'vobiz_bff_connections_refused_total'), logged, 'the logged count is every connection dropped')
    t.equal(server.child.exitCode, null, 'the process never exited')
    established.close()
  })
}

t.test('out of file descriptors (ulimit -n 256, 100 of them held outside the connection budget): the process lives, serves established connections, and recovers', async (t) => {
  const sandbox = await sandboxFor(t)
  // The cap (192) cannot be reached: descriptors run out first, as when something else in the process uses them.
  const holder = fileURLToPath(new URL('../helpers/hold-descriptors.cjs', import.meta.url))
  const server = runWithFileLimit(t, 'server.js', 256, productionEnv(sandbox, { HOLD_DESCRIPTORS: '100' }), ['--require', holder])
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  server.child.kill('SIGWINCH')
  await server.waitFor(/descriptors held/)
  const port = Number(new URL(url as string).port)
  const established = await EstablishedConnection.open(port)
  t.match(await established.get('/profile', { 'x-api-key': KEY }), /^HTTP\/1\.1 200 /)

  // Past the limit libuv accepts and closes each new connection itself (it keeps a spare descriptor for that).
  const { sockets } = flood(port, 400)
  // @fastify/under-pressure samples memory every second; without a descriptor to read /proc/self/stat that
  // sample throws (EMFILE) in a timer, which used to end the process.
  await server.waitFor(/memory sampling failed/)
  t.match(await established.get('/profile', { 'x-api-key': KEY }), /^HTTP\/1\.1 200 /, 'served while descriptors are exhausted')

  for (const socket of sockets) socket.destroy()
  await until('a new connection to be served again', async () => (await httpGet(`${url}/health/live`).catch(() => ({ status: 0 }))).status === 200)
  await server.waitFor(/memory sampling works again/)
  const episodes = lines(server, /memory sampling (failed|works again)/).map((line) => /failed/.test(line) ? 'failed' : 'works')
  t.same(episodes, episodes.map((_, i) => i % 2 === 0 ? 'failed' : 'works'), 'one line per change of state, never one per sample')
  t.equal(server.child.exitCode, null, 'the process never exited')
  t.notOk(established.closed)
  established.close()
})

t.test('a stalled log reader: lines are dropped (access lines first), the buffer stays bounded, the loss is counted and reported', async (t) => {
  const sandbox = await sandboxFor(t)
  const server = run(t, 'server.js', [], productionEnv(sandbox, { LOG_MAX_BUFFER_BYTES: '65536', RATE_LIMIT_PER_MINUTE: '1000000' }))
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  const stdout = server.child.stdout
  if (stdout === null) throw new Error('no stdout')
  // The reader stops: the pipe fills, and the server's writes stop completing.
  const listeners = stdout.listeners('data')
  stdout.removeAllListeners('data')
  stdout.pause()

  const scrape = async () => (await httpGet(`${url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })).text
  await until('log lines to be dropped', async () => {
    await Promise.all(Array.from({ length: 200 }, async () => await httpGet(`${url}/profile`, { 'x-api-key': KEY })))
    return metric(await scrape(), 'vobiz_bff_log_lines_dropped_total') > 1000
  })
  const stalled = await scrape()
  t.ok(metric(stalled, 'vobiz_bff_log_buffer_bytes') <= 65536, 'what waits for stdout never exceeds LOG_MAX_BUFFER_BYTES')
  t.equal((await httpGet(`${url}/profile`, { 'x-api-key': KEY })).status, 200, 'requests are still served')

  // The reader comes back: the loss is reported, in one line per stall, and adds up to the metric.
  for (const listener of listeners) stdout.on('data', listener as (chunk: Buffer) => void)
  stdout.resume()
  const reported = () => lines(server, /the log destination fell behind/).reduce((sum, line) => sum + Number(JSON.parse(line).dropped), 0)
  await until('every dropped line to be reported', async () => reported() === metric(await scrape(), 'vobiz_bff_log_lines_dropped_total'))
  t.ok(reported() > 1000)
  t.ok(lines(server, /the log destination fell behind/).length < 100, 'a few report lines, not one per dropped line')
  t.equal(server.child.exitCode, null)
})
