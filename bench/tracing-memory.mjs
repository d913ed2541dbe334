/**
 * node bench/tracing-memory.mjs [SECONDS [CASE...]] (after `npm run build`): what tracing costs in memory, whatever the
 * OTLP receiver does. Four cases, one after another, each a fresh `node dist/server.js`
 * (VOBIZ_SANDBOX=true, the default MAX_HEAP_USED_BYTES of 256 MiB) under SECONDS (default 30) of autocannon
 * load on GET /profile at 8 connections:
 *   off      tracing off (no OTEL variable)
 *   working  a receiver that accepts every export (200)
 *   dead     an endpoint where nothing listens (connection refused)
 *   hanging  a receiver that accepts the connection and never answers
 * Prints, per case: requests answered, 503s (load shedding), peak RSS (VmHWM), the heap used as /metrics
 * reported it at the end, the live heap right after (a full collection: bench/live-heap-server.mjs), and the
 * spans counted by vobiz_bff_trace_spans_exported_total. Loopback only.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { get } from './http-get.mjs'
import autocannon from 'autocannon'
import { generateApiKey, sha256Hex } from '../dist/consumers.js'
import { freePort } from './ports.mjs'

const root = fileURLToPath(new URL('../', import.meta.url))
const SECONDS = Number(process.argv[2] ?? 30)
const METRICS_TOKEN = 'tracing-memory-bench-token'
const MB = 1024 * 1024
// `node dist/server.js`, as the memory was first reported; BENCH_START_FLAGS=1: with `npm start`'s flags instead.
const NODE_FLAGS = process.env.BENCH_START_FLAGS === '1'
  ? JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start.split(' ').slice(1, -1)
  : []
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** A receiver that accepts every export. */
async function working () {
  const server = createHttpServer((req, res) => {
    req.resume()
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end() })
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => { server.closeAllConnections(); server.close() } }
}

/** A receiver that takes the connection and the bytes, and never answers. */
async function hanging () {
  const sockets = new Set()
  const server = createNetServer((socket) => { sockets.add(socket); socket.resume() }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => { for (const s of sockets) s.destroy(); server.close() } }
}

/** Nothing listens there (a port just released). */
async function dead () {
  return { url: `http://127.0.0.1:${await freePort()}`, close: () => {} }
}

async function measure (name, receiver) {
  const key = generateApiKey()
  const port = await freePort()
  const env = {
    PATH: process.env.PATH,
    PORT: String(port),
    HOST: '127.0.0.1',
    VOBIZ_SANDBOX: 'true',
    CONSUMERS: JSON.stringify([{ name: 'bench', key_sha256: sha256Hex(key), scopes: ['profile:read'], rate_limit_per_minute: 100_000_000 }]),
    METRICS_TOKEN,
    ACCESS_LOG: 'false',
    // OTEL_BSP_* and the like, to measure other bounds (the endpoint is the case's).
    ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key.startsWith('OTEL_'))),
    ...(receiver === undefined ? {} : { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url })
  }
  const child = spawn(process.execPath, [...NODE_FLAGS, '--expose-gc', join(root, 'bench/live-heap-server.mjs')], { env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk) => { stderr += chunk })
  try {
    const deadline = performance.now() + 60_000
    while ((await get(port, '/health/live', {}).catch(() => ({ status: 0 }))).status !== 200) {
      if (performance.now() > deadline) throw new Error(`tracing-memory bench (${name}): the service did not start within 60 s`)
      await sleep(50)
    }
    const result = await autocannon({ url: `http://127.0.0.1:${port}/profile`, headers: { 'x-api-key': key }, connections: 8, pipelining: 1, duration: SECONDS })
    const metrics = async () => {
      const { status, body } = await get(port, '/metrics', { authorization: `Bearer ${METRICS_TOKEN}` })
      return status === 200 ? body : ''
    }
    const text = await metrics()
    const heap = Math.round(Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]) / MB)
    const spans = Object.fromEntries([...text.matchAll(/^vobiz_bff_trace_spans_exported_total\{result="(\w+)"\} (\S+)$/gm)].map((m) => [m[1], Number(m[2])]))
    const peakRss = Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024)
    const shed = result.statusCodeStats?.['503']?.count ?? 0
    // The live heap right after the load, the receiver's state unchanged: what tracing still holds.
    child.kill('SIGUSR2')
    while (!stderr.includes('\n')) await sleep(20)
    const live = Math.round(JSON.parse(stderr.split('\n')[0]).heapUsed / MB)
    return { case: name, requests: result.requests.total, shed503: shed, peakRssMb: peakRss, heapUsedMb: heap, liveHeapMb: live, spans }
  } finally {
    child.kill('SIGKILL')
    await once(child, 'exit')
    receiver?.close()
  }
}

const CASES = { off: async () => undefined, working, dead, hanging }
const names = process.argv.length > 3 ? process.argv.slice(3) : Object.keys(CASES)
const rows = []
for (const name of names) rows.push(await measure(name, await CASES[name]()))
process.stdout.write(`node bench/tracing-memory.mjs ${SECONDS} (GET /profile, 8 connections, ${SECONDS} s per case)\n`)
process.stdout.write('| case | requests | 503 (shed) | peak RSS MB | heap used MB (end, /metrics) | live heap MB (end, after a full GC) | spans (vobiz_bff_trace_spans_exported_total) |\n|---|---|---|---|---|---|---|\n')
for (const row of rows) {
  process.stdout.write(`| ${row.case} | ${row.requests} | ${row.shed503} | ${row.peakRssMb} | ${row.heapUsedMb} | ${row.liveHeapMb} | ${Object.entries(row.spans).map(([k, v]) => `${k} ${v}`).join(', ') || '—'} |\n`)
}
