import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { untracked } from './helpers/processes.ts'

/** The benchmark is not a timed test; this only proves the harness works end to end (`--quick`). */
t.setTimeout(180_000)

t.test('npm run bench -- --quick runs every row and writes its results', async (t) => {
  const root = fileURLToPath(new URL('../', import.meta.url))
  const results = join(mkdtempSync(join(tmpdir(), 'bench-')), 'results.json')
  const child = spawn(...untracked([process.execPath, 'bench/run.mjs', '--quick']), { cwd: root, env: { ...process.env, BENCH_RESULTS: results } })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const [status] = await once(child, 'close') as [number | null]
  const run = { stdout }
  t.equal(status, 0, stderr)
  t.match(run.stdout, /\| service GET \/profile, access log on \|/)
  t.match(run.stdout, /\| reference B: bare node:http \| skipped \(--quick\) \| – \| [\d,]+ \| 1\.00 \|/)
  t.match(run.stdout, /nginx proxy_cache/)
  t.match(run.stdout, /→ 1 upstream request\(s\)/, 'the stampede made exactly one upstream request')
  const written = JSON.parse(readFileSync(results, 'utf8'))
  const nginx = existsSync('/usr/sbin/nginx')
  t.equal(written.rows.length, nginx ? 8 : 7, 'seven rows, and nginx when it is installed')
  t.match(run.stdout, /\| reference B′: bare node:http, the service's headers \| skipped \(--quick\) \|/)
  t.match(run.stdout, /\| service GET \/profile, tracing on \(every request sampled\) \| skipped \(--quick\) \|/, 'the traced service answered')
  if (nginx) t.equal(written.stampede.nginxUpstreamRequests, 1, 'nginx\'s proxy_cache_lock also made one upstream request')
  t.equal(written.stampede.upstreamRequests, 1)
  t.ok(written.rows.every((r: { reqPerSec: number[] }) => r.reqPerSec.length === 1 && r.reqPerSec[0]! > 0))
  t.match(written.machine, { cpus: Number, node: process.version })
  t.match(run.stdout, /\| two replicas, in-memory \(no REDIS_URL\) \| \d+ \| [\d.]+ \|/)
  t.match(run.stdout, /SSE, 100 streams by API key \(one consumer\) on one replica: live heap [\d.-]+ KB per stream; RSS \d+ → \d+ MB/, 'the fan-out step ran with API keys')
  t.match(run.stdout, /SSE, 100 streams by JWT \(20 subjects × 5\) on one replica: live heap [\d.-]+ KB per stream;/, 'and with the JWTs of many subjects')
  const fanOut = { subscribers: 100, changes: 3, liveHeapKbPerSubscriber: Number, rssKbPerSubscriber: Number, garbageBytesPerDelivery: Number, cpuMsPerChange: Number, fanOutMsMedian: Number }
  t.match(written.sse, { 'api-key': fanOut, jwt: { ...fanOut, subjects: 20 } })
  // How many Vobiz requests each fleet made depends on timing: the rows report it, the test only checks they ran.
  const [alone, shared] = written.fleet as Array<{ upstream?: number, skipped?: string }>
  t.ok(alone!.upstream! >= 1, 'two replicas without Redis fetched from Vobiz')
  if (shared?.skipped === undefined) {
    t.ok(shared!.upstream! >= 1, 'two replicas sharing Redis fetched from Vobiz')
  } else {
    t.match(shared.skipped, /redis-server/, 'the Redis row says why it was skipped')
  }
})
