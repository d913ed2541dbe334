/**
 * node bench/heap-shedding.mjs [STREAMS] [CHANGES] (after `npm run build`): the heap limit under an SSE burst,
 * the way an outside review met it. One service started as `npm start` starts it, with the default
 * MAX_HEAP_USED_BYTES (256 MiB); STREAMS GET /profile/events streams (default 6,000) by JWT, five per subject
 * (EVENTS_MAX_STREAMS_PER_CALLER's default); CHANGES change events (default 60), each revealed by a forced
 * refresh and fanned out to every stream; then 100 ordinary GET /profile requests with the streams open; then
 * every stream closed, and GET /profile every 100 ms until one is answered 200 (at most 60 s). Prints how many
 * were shed, the heap as /metrics reported it, how long shedding went on after the streams had gone, and the
 * peak RSS (the Kubernetes deployment's memory limit is 384 MiB).
 * Loopback only; about a minute. Needs a descriptor limit above twice STREAMS (`ulimit -n`).
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { get } from './http-get.mjs'
import { generateApiKey, sha256Hex } from '../dist/consumers.js'
import { startSandbox } from '../dist/sandbox/sandbox.js'
import { freePort } from './ports.mjs'
import { refresh, startIssuer, subscribe } from './sse.mjs'

const root = fileURLToPath(new URL('../', import.meta.url))
const STREAMS = Number(process.argv[2] ?? 6000)
const CHANGES = Number(process.argv[3] ?? 60)
const PER_SUBJECT = 5
const METRICS_TOKEN = 'heap-shedding-bench-token'
const MB = 1024 * 1024

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const sandbox = await startSandbox()
const issuer = await startIssuer()
const key = generateApiKey()
const port = await freePort()
const startFlags = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start.split(' ').slice(1, -1)
const child = spawn(process.execPath, [...startFlags, join(root, 'dist/server.js')], {
  env: {
    ...process.env,
    ...issuer.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    VOBIZ_BASE_URL: sandbox.url,
    VOBIZ_AUTH_ID: sandbox.authId,
    VOBIZ_AUTH_TOKEN: sandbox.authToken,
    CONSUMERS: JSON.stringify([{ name: 'bench', key_sha256: sha256Hex(key), scopes: ['profile:read'], rate_limit_per_minute: 100_000_000 }]),
    REFRESH_PER_MINUTE: '100000',
    METRICS_TOKEN,
    // Only the heap limit: opening thousands of JWT streams at once (an RS256 verification each) can delay the
    // event loop past MAX_EVENT_LOOP_DELAY_MS, and that shedding is not what this measures.
    MAX_EVENT_LOOP_DELAY_MS: process.env.MAX_EVENT_LOOP_DELAY_MS ?? '0',
    ACCESS_LOG: 'false',
    STARTUP_FETCH: 'false'
  },
  stdio: 'ignore'
})
try {
  const auth = { 'x-api-key': key }
  const deadline = performance.now() + 60_000
  while ((await get(port, '/health/live', {}).catch(() => ({ status: 0 }))).status !== 200) {
    if (performance.now() > deadline) throw new Error('heap-shedding bench: the service did not start within 60 s')
    await sleep(50)
  }
  const heapMb = async () => {
    const { status, body } = await get(port, '/metrics', { authorization: `Bearer ${METRICS_TOKEN}` })
    // /metrics is shed like any other route.
    if (status !== 200) return `? (/metrics answered ${status})`
    return `${Math.round(Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(body)?.[1]) / MB)} MB`
  }
  await refresh(port, auth)
  const tokens = await Promise.all(Array.from({ length: Math.ceil(STREAMS / PER_SUBJECT) }, (_, i) => issuer.token(`user-${String(i).padStart(6, '0')}`)))
  const { streams, close } = await subscribe(port, Array.from({ length: STREAMS }, (_, i) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` })))
  for (let i = 0; i < CHANGES; i++) {
    sandbox.update({ balance: 1_000_000 - i })
    await refresh(port, auth)
    await sleep(100)
  }
  const heard = Math.min(...streams.map((s) => s.events))
  const heapOpen = await heapMb()
  let shed = 0
  for (let i = 0; i < 100; i++) if ((await get(port, '/profile', auth)).status === 503) shed++
  close()
  const closedAt = performance.now()
  let after = 0
  while ((await get(port, '/profile', auth)).status === 503 && performance.now() - closedAt < 60_000) {
    after++
    await sleep(100)
  }
  const seconds = ((performance.now() - closedAt) / 1000).toFixed(1)
  const peakRssMb = Math.round(Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) / 1024)
  process.stdout.write(`${STREAMS} JWT streams (${tokens.length} subjects × ${PER_SUBJECT}), ${CHANGES} change events (every stream heard ≥ ${heard} events, the snapshot included): heap ${heapOpen} as /metrics reported it; ${shed} of 100 ordinary requests shed with 503; after every stream closed, ${after} more 503s and the first 200 after ${seconds} s (heap then ${await heapMb()}); peak RSS ${peakRssMb} MB\n`)
} finally {
  child.kill('SIGKILL')
  issuer.close()
  await sandbox.close()
}
