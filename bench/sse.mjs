/**
 * The change-notification fan-out: `subscribers` GET /profile/events streams on one server, and what each
 * change event costs it. RSS is read from /proc before and after the streams open; CPU (utime + stime from
 * /proc/<pid>/stat) is measured over `changes` forced refreshes that each reveal a change, less the same number
 * of refreshes that reveal none, so that what remains is detecting, serialising and writing the event to
 * every stream.
 */
import { request, Agent } from 'node:http'
import { readFileSync } from 'node:fs'

const TICKS_PER_SECOND = 100

function cpuMs (pid) {
  // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
}

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)

async function until (what, check, ms = 120_000) {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`sse bench: gave up waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Opens `count` streams; each counts the events it has received. */
async function subscribe (port, headers, count) {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity })
  const streams = await Promise.all(Array.from({ length: count }, () => new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/profile/events', headers: { ...headers, accept: 'text/event-stream' }, agent }, (res) => {
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

async function refresh (port, headers) {
  await new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/profile', headers: { ...headers, 'cache-control': 'no-cache' } }, (res) => { res.resume(); res.on('end', resolve) }).on('error', reject).end()
  })
}

/** `server`: started with EVENTS_MAX_STREAMS_PER_CALLER ≥ subscribers and a large refresh budget. */
export async function sseFanOut ({ server, sandbox, headers, subscribers, changes }) {
  const pid = server.child.pid
  await refresh(server.port, headers)
  await new Promise((resolve) => setTimeout(resolve, 500))
  const rssBefore = rssKb(pid)
  const { streams, close } = await subscribe(server.port, headers, subscribers)
  await until('every snapshot', () => streams.every((s) => s.events >= 1))
  await new Promise((resolve) => setTimeout(resolve, 500))
  const rssAfter = rssKb(pid)

  // The same refreshes with nothing changed, then with a change each (a new balance): the difference is the fan-out.
  sandbox.update({ balance: 1_000_000 })
  await refresh(server.port, headers)
  const idleStart = cpuMs(pid)
  for (let i = 0; i < changes; i++) await refresh(server.port, headers)
  const idle = cpuMs(pid) - idleStart
  const heard = streams[0].events
  const latencies = []
  const busyStart = cpuMs(pid)
  for (let i = 0; i < changes; i++) {
    sandbox.update({ balance: 1_000_000 - i - 1 })
    const started = performance.now()
    await refresh(server.port, headers)
    await until(`change ${i + 1} on every stream`, () => streams.every((s) => s.events >= heard + i + 1))
    latencies.push(performance.now() - started)
  }
  const busy = cpuMs(pid) - busyStart
  close()
  const sorted = latencies.sort((a, b) => a - b)
  return {
    subscribers,
    changes,
    rssMbBefore: Math.round(rssBefore / 1024),
    rssMbAfter: Math.round(rssAfter / 1024),
    rssKbPerSubscriber: Number(((rssAfter - rssBefore) / subscribers).toFixed(1)),
    cpuMsPerChange: Number(((busy - idle) / changes).toFixed(2)),
    cpuUsPerDelivery: Number((((busy - idle) / changes / subscribers) * 1000).toFixed(2)),
    // From the refresh that revealed the change to the last of the streams hearing it (includes the fetch).
    fanOutMsMedian: Number(sorted[Math.floor(sorted.length / 2)].toFixed(1))
  }
}
