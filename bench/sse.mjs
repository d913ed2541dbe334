/**
 * The change-notification fan-out: `subscribers` GET /profile/events streams on one server, opened with one
 * kind of identity (an API key, or JWTs of many distinct subjects), what each stream costs in memory, and what
 * each change event costs in CPU.
 *
 * Memory comes from bench/heap-probe.mjs, loaded into the server and asked over loopback: the heap after a
 * full collection (what the streams hold), the heap as V8 reports it before one (garbage included: each change
 * event leaves some per stream until V8 collects, and a heap limit judged on that figure sees it), and RSS. CPU (utime + stime from /proc/<pid>/stat) is measured over `changes`
 * forced refreshes that each reveal a change, less the same number of refreshes that reveal none, so that what
 * remains is detecting, serialising and writing the event to every stream.
 */
import { request, Agent, createServer } from 'node:http'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

const TICKS_PER_SECOND = 100
const KB = 1024
/** Change events whose garbage is measured (after the CPU measurement). */
const GARBAGE_CHANGES = 5

function cpuMs (pid) {
  // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
}

async function until (what, check, ms = 120_000) {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`sse bench: gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** One reading of bench/heap-probe.mjs in the server (its port is in `file`). */
async function probe (file) {
  const port = Number(readFileSync(file, 'utf8'))
  return await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => { body += chunk })
      res.on('end', () => { resolve(JSON.parse(body)) })
    }).on('error', reject).end()
  })
}

/**
 * A JWT issuer on loopback: one RS256 key, published as a JWKS; `token(sub)` signs a token for a subject
 * with both scopes, valid for an hour.
 */
export async function startIssuer () {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' }
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: [jwk] }))
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  const issuer = 'https://login.bench.test/'
  const audience = 'vobiz-bff'
  return {
    env: { JWT_JWKS_URL: `http://127.0.0.1:${server.address().port}/.well-known/jwks.json`, JWT_ISSUER: issuer, JWT_AUDIENCE: audience },
    token: (sub) => new SignJWT({ scope: 'profile:read balance:read' })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
      .setSubject(sub).setIssuer(issuer).setAudience(audience).setIssuedAt().setExpirationTime('1h')
      .sign(privateKey),
    close: () => { server.close(); server.closeAllConnections() }
  }
}

/** Opens one stream per entry of `headers`; each counts the events it has received. */
export async function subscribe (port, headers) {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity })
  const streams = await Promise.all(headers.map((h) => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/profile/events', headers: { ...h, accept: 'text/event-stream' }, agent }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`sse bench: a stream got ${res.statusCode}`)); return }
      const stream = { events: 0, close: () => req.destroy() }
      res.setEncoding('utf8')
      res.on('data', (chunk) => { stream.events += chunk.split('\nevent: ').length - 1 + (chunk.startsWith('event: ') ? 1 : 0) })
      res.on('error', () => {})
      resolve(stream)
    })
    req.on('error', reject)
    req.end()
  })))
  return { streams, close: () => { for (const s of streams) s.close(); agent.destroy() } }
}

export async function refresh (port, headers) {
  await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/profile', headers: { ...headers, 'cache-control': 'no-cache' } }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject).end()
  })
}

const perStream = (bytes, streams) => Number((bytes / streams / KB).toFixed(1))

/**
 * `server`: started with bench/heap-probe.mjs (HEAP_PROBE_FILE = `probeFile`), EVENTS_MAX_STREAMS_PER_CALLER
 * ≥ the streams per caller in `streamHeaders`, and a large refresh budget for `refreshHeaders`' caller.
 */
export async function sseFanOut ({ server, probeFile, sandbox, refreshHeaders, streamHeaders, changes }) {
  const pid = server.child.pid
  const subscribers = streamHeaders.length
  await refresh(server.port, refreshHeaders)
  // A few streams opened and closed first: what the first stream alone loads and compiles is not counted.
  const warm = await subscribe(server.port, streamHeaders.slice(0, 20))
  await until('the warm-up snapshots', () => warm.streams.every((s) => s.events >= 1))
  warm.close()
  await new Promise((resolve) => setTimeout(resolve, 500))
  const before = await probe(probeFile)
  const { streams, close } = await subscribe(server.port, streamHeaders)
  await until('every snapshot', () => streams.every((s) => s.events >= 1))
  await new Promise((resolve) => setTimeout(resolve, 500))
  const open = await probe(probeFile)

  // The same refreshes with nothing changed, then with a change each (a new balance): the difference is the fan-out.
  sandbox.update({ balance: 1_000_000 })
  await refresh(server.port, refreshHeaders)
  const idleStart = cpuMs(pid)
  for (let i = 0; i < changes; i++) await refresh(server.port, refreshHeaders)
  const idle = cpuMs(pid) - idleStart
  const heard = streams[0].events
  const latencies = []
  const busyStart = cpuMs(pid)
  for (let i = 0; i < changes; i++) {
    sandbox.update({ balance: 1_000_000 - i - 1 })
    const started = performance.now()
    await refresh(server.port, refreshHeaders)
    await until(`change ${i + 1} on every stream`, () => streams.every((s) => s.events >= heard + i + 1))
    latencies.push(performance.now() - started)
  }
  const busy = cpuMs(pid) - busyStart
  // What a few more change events leave on the heap until V8 collects it: measured apart from the CPU, since
  // each reading of the probe costs a full collection. Few enough that V8 is unlikely to collect in between.
  const collected = await probe(probeFile)
  for (let i = 0; i < GARBAGE_CHANGES; i++) {
    sandbox.update({ balance: 2_000_000 + i })
    await refresh(server.port, refreshHeaders)
    await until(`change ${changes + i + 1} on every stream`, () => streams.every((s) => s.events >= heard + changes + i + 1))
  }
  const changed = await probe(probeFile)
  close()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  const closed = await probe(probeFile)
  const sorted = latencies.sort((a, b) => a - b)
  return {
    subscribers,
    changes,
    rssMbBefore: Math.round(before.rss / KB / KB),
    rssMbAfter: Math.round(open.rssBefore / KB / KB),
    /** RSS growth with the streams open, per stream. */
    rssKbPerSubscriber: perStream(open.rssBefore - before.rss, subscribers),
    /** What the open streams hold: heap after a full collection, per stream. */
    liveHeapKbPerSubscriber: perStream(open.heapUsed - before.heapUsed, subscribers),
    /** Heap left to collect per change event and stream (V8's reported heap grows by this until it collects). */
    garbageBytesPerDelivery: Math.round((changed.heapUsedBefore - collected.heapUsed) / GARBAGE_CHANGES / subscribers),
    /** Heap still held once every stream has closed (after a full collection), per stream that was open. */
    retainedKbPerSubscriberAfterClose: perStream(closed.heapUsed - before.heapUsed, subscribers),
    cpuMsPerChange: Number(((busy - idle) / changes).toFixed(2)),
    cpuUsPerDelivery: Number((((busy - idle) / changes / subscribers) * 1000).toFixed(2)),
    // From the refresh that revealed the change to the last of the streams hearing it (includes the fetch).
    fanOutMsMedian: Number(sorted[Math.floor(sorted.length / 2)].toFixed(1))
  }
}
