/**
 * npm run bench [-- --quick | --sse]: this service against the limit (bare node:http), a minimal Fastify app and,
 * when nginx is installed, nginx proxy_cache — all on loopback. Prints a markdown table and writes
 * bench/results.json. --quick (a few seconds, no callgrind, no soak) proves the harness works; the test suite
 * runs it. --sse runs only the change-notification fan-out (1,000 SSE streams by API key, then by JWT) and prints
 * its lines.
 */
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer as createHttpServer } from 'node:http'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import autocannon from 'autocannon'
// The compiled service (npm run bench builds it first): the harness runs on plain node, like the servers it measures.
import { generateApiKey, sha256Hex } from '../dist/consumers.js'
import { startSandbox } from '../dist/sandbox/sandbox.js'
import { freePort } from './ports.mjs'
import { sseFanOut, startIssuer } from './sse.mjs'

const root = fileURLToPath(new URL('../', import.meta.url))
const quick = process.argv.includes('--quick')
// Callgrind needs ~3 minutes per service process here; --no-callgrind keeps a full run to a few minutes.
const callgrind = !quick && !process.argv.includes('--no-callgrind')
const DURATION = 10
/** --quick measures nothing: each load is this many requests (at least one per connection), not a duration. */
const QUICK_REQUESTS = 200
const CONNECTIONS = 16
const ROUNDS = quick ? 1 : 3

const children = []

async function waitUp (name, port, path, headers) {
  // Up to 60 s: on a loaded machine seven servers starting at once can take a while.
  const deadline = performance.now() + 60_000
  while (performance.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers })
      await res.arrayBuffer()
      if (res.status < 500) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${name}: nothing answered on port ${port} within 60 s`)
}

/** `command`: argv, or a function of the port for servers configured by file (nginx). */
async function start (name, commandOrFn, env, path, headers) {
  const port = await freePort()
  const command = typeof commandOrFn === 'function' ? commandOrFn(port) : commandOrFn
  // No inherited stdio: a server must never keep the harness's own output open.
  const child = spawn(command[0], command.slice(1), { env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: 'ignore' })
  children.push(child)
  let peak = 0
  const timer = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0))
    } catch {}
  }, 200)
  child.on('exit', () => clearInterval(timer))
  return waitUp(name, port, path, headers).then(() => ({ name, port, child, peakRssKb: () => peak }))
}

async function load (port, path, headers, duration = DURATION, connections = CONNECTIONS) {
  const length = quick ? { amount: Math.max(QUICK_REQUESTS, connections), sampleInt: 100 } : { duration }
  const result = await autocannon({ url: `http://127.0.0.1:${port}${path}`, headers, ...length, connections, pipelining: 1 })
  return { reqPerSec: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

/**
 * Instructions per request under callgrind (../shared/tools/instr-per-req.sh). Spawned asynchronously: the
 * sandbox runs in this process and must keep answering while the measured server fetches from it.
 */
async function instructionsPerRequest (commandOrFn, env, path, header) {
  if (!callgrind) return quick ? 'skipped (--quick)' : 'skipped (--no-callgrind)'
  if (spawnSync('valgrind', ['--version']).status !== 0) return 'skipped (no valgrind)'
  const port = await freePort()
  const command = typeof commandOrFn === 'function' ? commandOrFn(port) : commandOrFn
  const child = spawn('bash', [join(root, '../shared/tools/instr-per-req.sh'), String(port), path, header, '--', ...command], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', PROCS: process.env.PROCS ?? '3', ROUNDS: process.env.ROUNDS ?? '4' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => { stdout += chunk })
  child.stderr.on('data', (chunk) => { stderr += chunk })
  await new Promise((resolve) => child.on('close', resolve))
  const match = /(\d+) instructions\/request \(median of \d+ processes: ([\d ]+)\)/.exec(stdout)
  return match === null ? `failed: ${stderr.slice(-200)}` : { median: Number(match[1]), processes: match[2].trim().split(' ').map(Number) }
}

const FLEET_TTL_SECONDS = 1
const FLEET_SECONDS = 10

/** A redis-server of the benchmark's own on a free port, or why there is none. */
async function startRedis () {
  if (spawnSync('redis-server', ['--version']).status !== 0) return 'redis-server is not installed (`apt-get install redis-server`)'
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  children.push(child)
  const deadline = performance.now() + 60_000
  while (performance.now() < deadline) {
    const probe = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`])
    if (probe.status === 0) return { url: `redis://127.0.0.1:${port}`, child }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`redis-server did not accept connections on port ${port} within 60 s`)
}

/**
 * Two replicas under load on both for FLEET_SECONDS with a 1 s freshness: how many Vobiz requests the fleet
 * makes per freshness period — one per replica on their own, one for the fleet with Redis.
 */
async function fleet (service, serviceEnv, sandbox, auth) {
  const redis = await startRedis()
  const env = { ...serviceEnv, ACCESS_LOG: 'false', PROFILE_TTL_SECONDS: String(FLEET_TTL_SECONDS) }
  const setups = [
    { name: 'two replicas, in-memory (no REDIS_URL)', env },
    { name: 'two replicas sharing Redis', env: typeof redis === 'string' ? undefined : { ...env, REDIS_URL: redis.url }, skipped: redis }
  ]
  const rows = []
  for (const setup of setups) {
    if (setup.env === undefined) { rows.push({ name: setup.name, skipped: setup.skipped }); continue }
    const replicas = await Promise.all([0, 1].map((i) => start(`replica ${i}`, service, setup.env, '/health/live', {})))
    const before = sandbox.requests
    const started = performance.now()
    const results = await Promise.all(replicas.map((r) => load(r.port, '/profile', auth, FLEET_SECONDS, CONNECTIONS / 2)))
    const seconds = (performance.now() - started) / 1000
    const upstream = sandbox.requests - before
    for (const r of replicas) r.child.kill()
    if (results.some((r) => r.non2xx > 0)) throw new Error(`${setup.name}: non-2xx answers`)
    rows.push({ name: setup.name, upstream, perTtl: upstream / (seconds / FLEET_TTL_SECONDS), reqPerSec: results.reduce((sum, r) => sum + r.reqPerSec, 0) })
  }
  if (typeof redis !== 'string') redis.child.kill()
  return rows
}

/**
 * Where the traced variant sends its spans: an OTLP/HTTP receiver that accepts every export and keeps nothing
 * (the cost measured is the service's: making, batching and encoding spans, and posting them).
 */
async function startOtlpSink () {
  const server = createHttpServer((req, res) => {
    req.resume()
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => { server.closeAllConnections(); server.close() } }
}

const NGINX = '/usr/sbin/nginx'

/**
 * The peer: nginx with proxy_cache + proxy_cache_lock in front of the sandbox, injecting the Vobiz headers —
 * what an operator might deploy instead (no consumer auth, no rate limits, Vobiz's body as is). One process
 * (master_process off), so that callgrind can follow it; a fresh cache directory per start.
 */
function nginxCommand (sandbox) {
  return (port) => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'))
    const upstream = new URL(sandbox.url)
    writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fastcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=vobiz:1m max_size=10m inactive=1d use_temp_path=off;
  upstream vobiz { server ${upstream.host}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    location = /profile {
      proxy_pass http://vobiz/api/v1/partner/me;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Auth-ID "${sandbox.authId}";
      proxy_set_header X-Auth-Token "${sandbox.authToken}";
      proxy_cache vobiz;
      proxy_cache_key partner-me;
      proxy_cache_valid 200 1d;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 5s;
      proxy_cache_use_stale updating error timeout;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
    }
  }
}
`)
    return [NGINX, '-p', dir, '-c', join(dir, 'nginx.conf')]
  }
}

/** Streams per JWT subject in the SSE step: EVENTS_MAX_STREAMS_PER_CALLER's default. */
const STREAMS_PER_SUBJECT = 5

/**
 * Change notifications: 1,000 SSE streams on one replica (100 with --quick), once opened by API key (one
 * consumer) and once by JWT (200 distinct subjects × 5 streams), each on a fresh server with
 * bench/heap-probe.mjs loaded.
 */
async function sseStep (service, serviceEnv, sandbox, auth) {
  const subscribers = quick ? 100 : 1000
  const changes = quick ? 3 : 50
  const issuer = await startIssuer()
  const tokens = await Promise.all(Array.from({ length: subscribers / STREAMS_PER_SUBJECT }, (_, i) => issuer.token(`user-${String(i).padStart(6, '0')}`)))
  const kinds = [
    { identity: 'api-key', perCaller: subscribers, streamHeaders: Array.from({ length: subscribers }, () => auth) },
    { identity: 'jwt', perCaller: STREAMS_PER_SUBJECT, streamHeaders: Array.from({ length: subscribers }, (_, i) => ({ authorization: `Bearer ${tokens[i % tokens.length]}` })) }
  ]
  const probe = pathToFileURL(join(root, 'bench/heap-probe.mjs')).href
  const results = {}
  for (const kind of kinds) {
    const probeFile = join(mkdtempSync(join(tmpdir(), 'bench-sse-')), 'heap.jsonl')
    const command = [...service.slice(0, -1), '--import', probe, service.at(-1)]
    const env = { ...serviceEnv, ...issuer.env, ACCESS_LOG: 'false', REFRESH_PER_MINUTE: '100000', EVENTS_MAX_STREAMS_PER_CALLER: String(kind.perCaller), HEAP_PROBE_FILE: probeFile }
    const server = await start(`sse (${kind.identity})`, command, env, '/health/live', {})
    const fanOut = await sseFanOut({ server, probeFile, sandbox, refreshHeaders: auth, streamHeaders: kind.streamHeaders, changes })
    results[kind.identity] = kind.identity === 'jwt' ? { subjects: tokens.length, ...fanOut } : fanOut
    server.child.kill()
  }
  issuer.close()
  return results
}

const sseLines = (sse) => Object.entries(sse).map(([identity, r]) => [
  `SSE, ${r.subscribers} streams by ${identity === 'jwt' ? `JWT (${r.subjects} subjects × ${r.subscribers / r.subjects})` : 'API key (one consumer)'} on one replica:`,
  `live heap ${r.liveHeapKbPerSubscriber} KB per stream; RSS ${r.rssMbBefore} → ${r.rssMbAfter} MB (${r.rssKbPerSubscriber} KB per stream);`,
  `each change event leaves ${r.garbageBytesPerDelivery} bytes per stream for V8 to collect;`,
  `held after every stream closed ${r.retainedKbPerSubscriberAfterClose} KB per stream;`,
  `CPU per change event ${r.cpuMsPerChange} ms (${r.cpuUsPerDelivery} µs per stream); refresh to last stream, median ${r.fanOutMsMedian} ms`
].join(' ')).join('\n')

async function main () {
  if (!existsSync(join(root, 'dist/server.js'))) throw new Error('run `npm run build` first (npm run bench does)')
  const sandbox = await startSandbox()
  const key = generateApiKey()
  const serviceEnv = {
    VOBIZ_BASE_URL: sandbox.url,
    VOBIZ_AUTH_ID: sandbox.authId,
    VOBIZ_AUTH_TOKEN: sandbox.authToken,
    CONSUMERS: JSON.stringify([{ name: 'bench', key_sha256: sha256Hex(key), scopes: ['profile:read'], rate_limit_per_minute: 100_000_000 }]),
    PROFILE_TTL_SECONDS: '86400',
    BALANCE_TTL_SECONDS: '3600',
    LOG_LEVEL: 'info',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    // Under valgrind a process runs ~50× slower: the default deadlines would fail its first Vobiz fetch, and
    // the figure would be that of 502s.
    UPSTREAM_TIMEOUT_MS: '60000',
    UPSTREAM_ATTEMPT_TIMEOUT_MS: '60000',
    // The fleet rows count Vobiz requests from cold.
    STARTUP_FETCH: 'false'
  }
  const auth = { 'x-api-key': key }
  const node = [process.execPath, '--single-threaded']
  // With the node flags `npm start` uses (see docs/performance.md).
  const startFlags = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start.split(' ').slice(1, -1)
  const service = [...node, ...startFlags, join(root, 'dist/server.js')]
  if (process.argv.includes('--sse')) {
    // Only the fan-out step (a minute), printed and not written to results.json.
    process.stdout.write(`${sseLines(await sseStep(service, serviceEnv, sandbox, auth))}\n`)
    await sandbox.close()
    return
  }
  const nginx = existsSync(NGINX) ? nginxCommand(sandbox) : undefined
  const otlp = await startOtlpSink()

  // The exact bytes the service serves, for the references.
  const probe = await start('probe', service, { ...serviceEnv, ACCESS_LOG: 'false' }, '/profile', auth)
  const sample = await fetch(`http://127.0.0.1:${probe.port}/profile`, { headers: auth })
  const body = await sample.text()
  // Its response head but what node:http adds itself.
  const head = JSON.stringify([...sample.headers].filter(([name]) => !['date', 'connection', 'keep-alive'].includes(name)))
  probe.child.kill()

  const variants = [
    { name: 'service GET /profile, access log on', command: service, env: serviceEnv, path: '/profile', headers: auth },
    { name: 'service GET /profile, ACCESS_LOG=false', command: service, env: { ...serviceEnv, ACCESS_LOG: 'false' }, path: '/profile', headers: auth },
    { name: 'service GET /profile/balance', command: service, env: serviceEnv, path: '/profile/balance', headers: auth },
    { name: 'reference A: minimal Fastify', command: [...node, join(root, 'bench/ref-fastify.mjs')], env: { BODY: body }, path: '/profile', headers: {} },
    { name: 'reference B: bare node:http', command: [...node, join(root, 'bench/ref-http.mjs')], env: { BODY: body }, path: '/profile', headers: {} },
    { name: 'reference B′: bare node:http, the service\'s headers', command: [...node, join(root, 'bench/ref-http.mjs')], env: { BODY: body, HEADERS: head }, path: '/profile', headers: {} },
    // Every request sampled (no traceparent, parentbased_always_on): the most tracing can cost a cached hit.
    { name: 'service GET /profile, tracing on (every request sampled)', command: service, env: { ...serviceEnv, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url }, path: '/profile', headers: auth },
    ...(nginx === undefined ? [] : [{ name: 'peer: nginx proxy_cache', command: nginx, env: {}, path: '/profile', headers: {} }])
  ]
  const rows = variants.map((v) => ({ name: v.name, reqPerSec: [], p50: [], p99: [] }))
  const servers = await Promise.all(variants.map((v) => start(v.name, v.command, v.env, v.path, v.headers)))
  if (!quick) for (const [i, v] of variants.entries()) await load(servers[i].port, v.path, v.headers, 1) // warm-up, fills the cache
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order every round, so no variant always runs on a warmer or cooler machine.
    const order = round % 2 === 0 ? variants.keys() : [...variants.keys()].reverse()
    for (const i of order) {
      const result = await load(servers[i].port, variants[i].path, variants[i].headers)
      if (result.non2xx > 0) throw new Error(`${variants[i].name}: ${result.non2xx} non-2xx answers`)
      rows[i].reqPerSec.push(result.reqPerSec)
      rows[i].p50.push(result.p50)
      rows[i].p99.push(result.p99)
    }
  }
  for (const [i, server] of servers.entries()) { rows[i].peakRssMb = Math.round(server.peakRssKb() / 1024); server.child.kill() }
  for (const [i, v] of variants.entries()) {
    rows[i].instructions = await instructionsPerRequest(v.command, v.env, v.path, Object.keys(v.headers).length === 0 ? '' : `X-API-Key: ${key}`)
  }

  // Stampede: a cold cache and 1,000 concurrent requests.
  const before = sandbox.requests
  const cold = await start('stampede', service, { ...serviceEnv, ACCESS_LOG: 'false', REFRESH_PER_MINUTE: '100000' }, '/health/live', {})
  sandbox.inject({ kind: 'delay', ms: 200 }, 1)
  const stampede = await load(cold.port, '/profile', auth, 2, 1000)
  const stampedeUpstream = sandbox.requests - before
  let nginxStampede = 'skipped: nginx is not installed (`apt-get install nginx-light`)'
  if (nginx !== undefined) {
    const beforeNginx = sandbox.requests
    const coldNginx = await start('nginx stampede', nginx, {}, '/nope', {})
    sandbox.inject({ kind: 'delay', ms: 200 }, 1)
    await load(coldNginx.port, '/profile', {}, 2, 1000)
    nginxStampede = sandbox.requests - beforeNginx
    coldNginx.child.kill()
  }
  // Miss path: forced refreshes, against the sandbox's own latency.
  const refresh = await load(cold.port, '/profile', { ...auth, 'cache-control': 'no-cache' }, DURATION, 1)
  const direct = await load(Number(new URL(sandbox.url).port), '/api/v1/partner/me', { 'x-auth-id': sandbox.authId, 'x-auth-token': sandbox.authToken }, DURATION, 1)
  cold.child.kill()

  const fleetRows = await fleet(service, serviceEnv, sandbox, auth)

  const sse = await sseStep(service, serviceEnv, sandbox, auth)

  // Memory: two consecutive 20-second runs; RSS must not grow more than 5% between them.
  let soak = 'skipped (--quick)'
  if (!quick) {
    const s = await start('soak', service, serviceEnv, '/profile', auth)
    await load(s.port, '/profile', auth, 20)
    const first = s.peakRssKb()
    await load(s.port, '/profile', auth, 20)
    soak = { first: Math.round(first / 1024), second: Math.round(s.peakRssKb() / 1024) }
    s.child.kill()
  }
  await sandbox.close()
  otlp.close()

  const limit = rows[4]
  const ref = rows[3]
  const fmt = (n) => n.toLocaleString('en-US', { maximumFractionDigits: 0 })
  const lines = [
    `| server | instructions/request | × limit | req/s (median of ${ROUNDS}) | × limit | p50 ms | p99 ms | peak RSS MB |`,
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const measured = typeof r.instructions === 'object'
      // The median of the processes, and their spread when there were several.
      const ipr = measured ? `${fmt(r.instructions.median)}${r.instructions.processes.length > 1 ? ` (${fmt(Math.min(...r.instructions.processes))}–${fmt(Math.max(...r.instructions.processes))})` : ''}` : String(r.instructions)
      const ratio = measured && typeof limit.instructions === 'object' ? (r.instructions.median / limit.instructions.median).toFixed(2) : '–'
      return `| ${r.name} | ${ipr} | ${ratio} | ${fmt(median(r.reqPerSec))} | ${(median(r.reqPerSec) / median(limit.reqPerSec)).toFixed(2)} | ${median(r.p50)} | ${median(r.p99)} | ${r.peakRssMb} |`
    }),
    ...(nginx === undefined ? ['| peer: nginx proxy_cache | skipped: nginx is not installed (`apt-get install nginx-light`) | | | | | | |'] : [])
  ]
  lines.push('', `| two replicas, PROFILE_TTL_SECONDS=${FLEET_TTL_SECONDS}, ${quick ? `${QUICK_REQUESTS} requests` : `${FLEET_SECONDS} s of load`} on both | upstream requests | per TTL, fleet-wide | req/s, both replicas |`, '|---|---|---|---|')
  for (const r of fleetRows) {
    lines.push(typeof r.skipped === 'string'
      ? `| ${r.name} | skipped: ${r.skipped} | | |`
      : `| ${r.name} | ${r.upstream} | ${r.perTtl.toFixed(2)} | ${fmt(r.reqPerSec)} |`)
  }
  const throughputVsA = median(rows[0].reqPerSec) / median(ref.reqPerSec)
  // What the service costs beyond writing its response head: cached /profile without access lines vs B′.
  const [plain, sameHead] = [rows[1].instructions, rows[5].instructions]
  const [untraced, traced] = [rows[0].instructions, rows[6].instructions]
  const summary = [
    '',
    `cached /profile throughput vs reference A: ${throughputVsA.toFixed(2)}×`,
    ...(typeof untraced === 'object' && typeof traced === 'object' ? [`tracing on, every request sampled: +${fmt(traced.median - untraced.median)} instructions per cached hit (${(traced.median / untraced.median).toFixed(2)}× tracing off)`] : []),
    ...(typeof plain === 'object' && typeof sameHead === 'object' ? [`cached /profile (ACCESS_LOG=false) vs reference B′, the same response head on bare node:http: ${(plain.median / sameHead.median).toFixed(2)}× the instructions`] : []),
    `stampede: 1000 connections on a cold cache (${fmt(stampede.reqPerSec)} req/s) → ${stampedeUpstream} upstream request(s); nginx: ${typeof nginxStampede === 'number' ? `${nginxStampede} upstream request(s)` : nginxStampede}`,
    `miss path (forced refresh): p50 ${refresh.p50} ms, p99 ${refresh.p99} ms; sandbox alone p50 ${direct.p50} ms, p99 ${direct.p99} ms; overhead p50 ${(refresh.p50 - direct.p50).toFixed(2)} ms, p99 ${(refresh.p99 - direct.p99).toFixed(2)} ms`,
    sseLines(sse),
    `soak: ${typeof soak === 'string' ? soak : `peak RSS ${soak.first} MB after 20 s, ${soak.second} MB after 40 s (${(((soak.second - soak.first) / soak.first) * 100).toFixed(1)}% growth)`}`
  ]
  process.stdout.write([...lines, ...summary, ''].join('\n'))
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
    settings: { quick, ...(quick ? { requestsPerLoad: QUICK_REQUESTS } : { durationSeconds: DURATION }), connections: CONNECTIONS, rounds: ROUNDS },
    rows,
    stampede: { concurrent: 1000, upstreamRequests: stampedeUpstream, nginxUpstreamRequests: nginxStampede },
    missPath: { refresh: { p50: refresh.p50, p99: refresh.p99 }, sandbox: { p50: direct.p50, p99: direct.p99 } },
    soak,
    fleet: fleetRows,
    sse
  }
  writeFileSync(process.env.BENCH_RESULTS ?? join(root, 'bench/results.json'), JSON.stringify(results, null, 2) + '\n')
}

try {
  await main()
} finally {
  for (const child of children) child.kill('SIGKILL')
}
