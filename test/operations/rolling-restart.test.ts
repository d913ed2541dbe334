import { request } from 'node:http'
import { EventSource } from 'eventsource'
import t, { type Test } from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { nginxUnavailable, startNginx, type Nginx } from '../helpers/nginx.ts'
import { run, serverEnv, type Running } from '../helpers/processes.ts'
import { freePort, redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { openEventStream } from '../helpers/sse.ts'
import { until } from '../helpers/time.ts'

// A rolling restart behind the shipped nginx config (deploy/nginx/vobiz-bff.conf): two replicas of the built
// server sharing a real redis-server, a real nginx in front of them, and a client that follows the WHATWG
// EventSource rules (the `eventsource` package: any answer but 200 closes it for good, as in browsers). Each
// replica in turn is stopped (SIGTERM: it ends its streams with a retry hint) and started again while the
// profile changes; the client must reconnect through nginx to the live replica, never be answered anything
// but 200, and get every change exactly once.
const skip = redisUnavailable() ?? nginxUnavailable()
const METRICS_TOKEN = 'metrics-token-0123456789abcdef'

/** One GET on a connection of its own (a replica may have been restarted since the last one). */
async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number, text: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, text }) })
    })
    req.on('error', reject)
    req.end()
  })
}

interface Replica {
  name: string
  port: number
  url: string
  process: Running
}

interface Received { id: string, event: string, data: string }

/** What a spec-following EventSource saw: every answer's status, what it sent on each connection, and its events. */
interface Follower {
  source: EventSource
  statuses: number[]
  /** Per connection: the Last-Event-ID it sent, and the id of the last event it had received by then. */
  connections: Array<{ sent: string | undefined, lastReceived: string | undefined }>
  events: Received[]
  /** readyState at each `error` event: CONNECTING (0) while it reconnects, CLOSED (2) once it has given up. */
  errors: number[]
}

/** An EventSource (the `eventsource` package) on `url` with the API key, through a fetch that records what it does. */
function follow (t: Test, url: string, key: string): Follower {
  const follower: Follower = { statuses: [], connections: [], events: [], errors: [], source: undefined as unknown as EventSource }
  follower.source = new EventSource(url, {
    // EventSource cannot send a header itself; its fetch can (as fetch-based browser clients do).
    fetch: async (input, init) => {
      follower.connections.push({ sent: init.headers['Last-Event-ID'], lastReceived: follower.events.at(-1)?.id })
      const response = await fetch(input, { ...init, headers: { ...init.headers, 'x-api-key': key } })
      follower.statuses.push(response.status)
      return response
    }
  })
  for (const type of ['snapshot', 'balance', 'billing', 'contact', 'message']) {
    follower.source.addEventListener(type, (event) => {
      const { lastEventId: id, data } = event as MessageEvent & { data: string }
      follower.events.push({ id, event: type, data })
    })
  }
  follower.source.addEventListener('error', () => { follower.errors.push(follower.source.readyState) })
  t.teardown(() => { follower.source.close() })
  return follower
}

/** The event streams a replica has open (vobiz_bff_event_streams). */
async function streamsOn (replica: Replica): Promise<number> {
  const { text } = await get(`${replica.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })
  return Number(/^vobiz_bff_event_streams (\d+)$/m.exec(text)?.[1])
}

/** The replica with the client's stream open: the one whose vobiz_bff_event_streams is 1 (the other's is 0). */
async function serving (replicas: Replica[]): Promise<Replica> {
  let found: Replica | undefined
  await until('exactly one replica to hold the stream', async () => {
    const counts = await Promise.all(replicas.map(streamsOn))
    found = counts[0] === 1 && counts[1] === 0 ? replicas[0] : counts[0] === 0 && counts[1] === 1 ? replicas[1] : undefined
    return found !== undefined
  })
  return found as Replica
}

/**
 * Requests through nginx while `stopped` is down, until one of them was offered to it first (round robin
 * offers each replica in turn; bounded): nginx found it refusing and answered from the other replica.
 */
async function probeWhileDown (t: Test, nginx: Nginx, stopped: Replica, other: Replica): Promise<void> {
  const logged = (): number => nginx.requests().filter((r) => r.uri === '/health/live').length
  for (let i = 0; i < 10; i++) {
    const before = logged()
    const { status } = await get(`${nginx.url}/health/live`)
    t.equal(status, 200, `a request through nginx while ${stopped.name} is down is answered 200`)
    await until('nginx to log the request', () => logged() > before)
    const last = nginx.requests().filter((r) => r.uri === '/health/live').at(-1)
    if (last?.upstreams[0] === `127.0.0.1:${stopped.port}`) {
      t.same(last.upstreams, [`127.0.0.1:${stopped.port}`, `127.0.0.1:${other.port}`], `nginx tried ${stopped.name}, then ${other.name}`)
      t.match(last.upstreamStatuses, [/^50[23]$/, '200'], `${stopped.name} refused (or answered 503), ${other.name} answered`)
      return
    }
  }
  t.fail(`no request was offered to ${stopped.name} first in 10 tries`)
}

t.test('a rolling restart behind nginx: an EventSource moves to the live replica and misses no change', { skip }, async (t) => {
  const redis = await startRedis(t)
  const sandbox = await startSandbox({})
  t.teardown(async () => { await sandbox.close() })
  sandbox.update({ balance: 40000 })
  const key = generateApiKey()
  const prefix = uniquePrefix()
  // A balance period of 1 s: while a stream is open, the poller asks Vobiz every second.
  const env = { ...serverEnv(sandbox, key), REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, BALANCE_TTL_SECONDS: '1', METRICS_TOKEN, EVENTS_MAX_STREAMS_PER_CALLER: '20' }
  const start = async (name: string, port: number): Promise<Replica> => {
    const process = run(t, 'server.js', [], { ...env, PORT: String(port) })
    await process.waitFor(/"msg":"vobiz-partner-bff ready"/)
    return { name, port, url: `http://127.0.0.1:${port}`, process }
  }
  // Fixed ports: a restarted replica comes back where nginx's upstream list says it is.
  const ports = [await freePort()]
  while (ports.length < 2) { const port = await freePort(); if (!ports.includes(port)) ports.push(port) }
  const replicas = await Promise.all([start('replica A', ports[0] as number), start('replica B', ports[1] as number)])
  const nginx = await startNginx(t, replicas.map((r) => r.port))

  const client = follow(t, `${nginx.url}/profile/events`, key)
  await until('the snapshot', () => client.events.length >= 1)
  t.equal(client.events[0]?.event, 'snapshot')
  let balance = 40000
  const change = async (why: string): Promise<void> => {
    balance -= 1000
    sandbox.update({ balance })
    await until(`the client to hear the balance ${balance} (${why})`, () => {
      // What the issue was about: a reconnect answered anything but 200 ends an EventSource for good.
      if (client.source.readyState === EventSource.CLOSED) throw new Error(`the EventSource closed for good (${why}); its connections were answered ${client.statuses.join(', ')}`)
      return client.events.some((e) => e.event === 'balance' && JSON.parse(e.data).balance === balance)
    })
  }
  await change('before any restart')

  for (const round of [1, 2]) {
    const victim = await serving(replicas)
    const other = replicas.find((r) => r !== victim) as Replica
    victim.process.child.kill('SIGTERM')
    t.same(await victim.process.exited, { code: 0, signal: null }, `round ${round}: ${victim.name} drained and exited 0`)
    await change(`${victim.name} down`)
    t.equal(await streamsOn(other), 1, `round ${round}: the client is on ${other.name}`)
    await probeWhileDown(t, nginx, victim, other)

    const restarted = await start(victim.name, victim.port)
    replicas[replicas.indexOf(victim)] = restarted
    // Back in the fleet: it resumes the client's ids at once (a stream of its own, straight to it): a replica
    // that has just started answers a resume only once it has read the fleet's stream.
    const [first, ...later] = client.events.slice(1)
    const resumed = await openEventStream(t, `${restarted.url}/profile/events`, { 'x-api-key': key, 'last-event-id': first?.id })
    t.equal(resumed.status, 200)
    await until('its first event', () => resumed.events.length > 0)
    t.equal(resumed.events[0]?.id, later[0]?.id, `round ${round}: ${restarted.name} resumes after the id it was given, not with a snapshot`)
    resumed.close()
    await resumed.ended
    await change(`${restarted.name} restarted`)
  }

  // The client's view: one connection per replica it was on, each answered 200, each resuming where it was.
  t.same(client.statuses, [200, 200, 200], 'every connection through nginx was answered 200: the client never saw a replica go')
  t.same(client.errors, [EventSource.CONNECTING, EventSource.CONNECTING], 'each stream end was a reconnect, never a close')
  t.equal(client.source.readyState, EventSource.OPEN)
  t.equal(client.connections[0]?.sent, undefined)
  for (const [i, connection] of client.connections.slice(1).entries()) {
    t.equal(connection.sent, connection.lastReceived, `reconnect ${i + 1} sent the last id it had received as Last-Event-ID`)
  }
  const [snapshot, ...changes] = client.events
  t.equal(snapshot?.event, 'snapshot')
  t.same(changes.map((e) => e.event), Array(changes.length).fill('balance'), 'one snapshot, then only changes: every resume was complete')
  t.same(changes.map((e) => JSON.parse(e.data).balance), [39000, 38000, 37000, 36000, 35000], 'every change, in order, once')
  const published = (await redis.client.xrange(`${prefix}changes:stream`, '-', '+')).map(([id]) => id)
  t.same(changes.map((e) => e.id), published, 'exactly the ids of the fleet\'s change stream: no gap, no repeat')

  // nginx's view, once the last stream has ended: it answered 200 to everything.
  client.source.close()
  await until('nginx to log the last stream', () => nginx.requests().filter((r) => r.uri === '/profile/events').length === 3)
  const streams = nginx.requests().filter((r) => r.uri === '/profile/events')
  t.same(nginx.requests().map((r) => r.status).filter((status) => status !== 200), [], 'nginx answered nothing but 200')
  t.same(streams.map((r) => r.lastEventId), client.connections.map((c) => c.sent ?? ''), 'Last-Event-ID went through nginx')
})
