import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { Redis } from 'ioredis'
import type { Test } from 'tap'

/**
 * A real redis-server for the tests: one this helper starts on a free loopback port (and can kill and start
 * again), stopped when the test ends. Without the `redis-server` binary the tests that need it are skipped
 * with a message, unless REQUIRE_REDIS=1 (CI), which makes that a failure.
 */
export interface RedisServer {
  url: string
  /** A client for the test's own checks (closed when the test ends). */
  client: Redis
  /** SIGKILLs the server (its data is lost: it runs without persistence). */
  kill: () => Promise<void>
  /** Starts it again on the same port. */
  start: () => Promise<void>
  /** SIGSTOP / SIGCONT: a server that hangs with its connections open (the slow-Redis case). */
  pause: () => void
  resume: () => void
}

const BINARY = 'redis-server'

/** Why Redis tests cannot run here, or undefined when they can. */
export function redisUnavailable (): string | undefined {
  const probe = spawnSync(BINARY, ['--version'], { stdio: 'ignore' })
  if (probe.error === undefined && probe.status === 0) return undefined
  const reason = `${BINARY} is not installed (apt-get install redis-server); the Redis tests are skipped`
  if (process.env.REQUIRE_REDIS === '1') throw new Error(`REQUIRE_REDIS=1 but ${reason}`)
  return reason
}

export async function freePort (): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}

/** Waits until the server answers PING (60 s at most: a busy machine can be slow to start it). */
async function waitForPing (url: string, exited: () => number | string | null): Promise<void> {
  const deadline = performance.now() + 60_000
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 })
    probe.on('error', () => {})
    try {
      await probe.connect()
      if (await probe.ping() === 'PONG') return
    } catch {
      const status = exited()
      if (status !== null) throw new Error(`redis-server exited (${status}) before answering PING on ${new URL(url).port}`)
      if (performance.now() > deadline) throw new Error(`redis-server at ${url.replace(/:[^:@/]*@/, ':***@')} did not answer PING within 60 s`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      probe.disconnect()
    }
  }
}

/** `args`: extra redis-server options, e.g. ['--requirepass', secret]. */
export async function startRedis (t: Test, args: string[] = []): Promise<RedisServer> {
  const port = await freePort()
  const password = args[args.indexOf('--requirepass') + 1]
  const url = args.includes('--requirepass') ? `redis://:${password ?? ''}@127.0.0.1:${port}` : `redis://127.0.0.1:${port}`
  let child: ChildProcess | undefined
  const start = async (): Promise<void> => {
    // No persistence: a killed server comes back empty, as after losing its data.
    const server = spawn(BINARY, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], { stdio: 'ignore' })
    child = server
    await waitForPing(url, () => server.exitCode ?? server.signalCode)
  }
  const kill = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
  const pause = (): void => { child?.kill('SIGSTOP') }
  const resume = (): void => { child?.kill('SIGCONT') }
  // Reaped when the test ends, even if it never answered.
  t.teardown(async () => {
    resume()
    await kill()
  })
  await start()
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  t.teardown(() => { client.disconnect() })
  return { url, client, kill, start, pause, resume }
}

/** A key prefix of its own for one test, so that tests sharing a server never see each other's keys. */
export function uniquePrefix (): string {
  return `test-${randomUUID().slice(0, 8)}:`
}
