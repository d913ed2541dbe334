import { spawn, spawnSync } from 'node:child_process'
import t from 'tap'
import { httpGet, startHarness } from '../helpers/harness.ts'

/**
 * A real scrape of /metrics, after traffic that touches every metric family, checked by Prometheus's own
 * linter (`promtool check metrics`, Debian's prometheus package). Skipped, saying why, on a machine without
 * promtool; CI sets REQUIRE_PROMTOOL=1 so that it cannot be skipped there.
 */
const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool'
const available = spawnSync(PROMTOOL, ['--version']).status === 0
const skip = available || process.env.REQUIRE_PROMTOOL === '1'
  ? false
  : 'promtool is not installed (apt-get install prometheus, or set PROMTOOL_PATH); .ci/run installs it'

async function promtoolCheck (exposition: string): Promise<{ code: number | null, output: string }> {
  const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stdin.end(exposition)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, output }
}

t.test('promtool check metrics: a real scrape has no problem and no warning', { skip }, async (t) => {
  const token = 'promtool-metrics-token-0123'
  const h = await startHarness(t, { env: { METRICS_TOKEN: token, RATE_LIMIT_PER_MINUTE: '2', UPSTREAM_RETRIES: '1' } })
  h.sandbox.inject({ kind: 'status', status: 503 }, 1)
  for (let i = 0; i < 3; i++) await h.get('/profile', { 'x-api-key': h.keys.profile })
  await h.get('/profile/balance', { 'x-api-key': h.keys.balance, 'cache-control': 'no-cache' })
  await h.get('/nope')
  const scrape = await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${token}` })
  t.equal(scrape.status, 200)
  const { code, output } = await promtoolCheck(scrape.text)
  t.equal(output.trim(), '', 'no finding')
  t.equal(code, 0)
})

t.test('an OpenMetrics scrape (what Prometheus asks for) leaves the text format as it was: promtool after text → OpenMetrics → text', { skip }, async (t) => {
  const token = 'promtool-metrics-token-0123'
  const h = await startHarness(t, { env: { METRICS_TOKEN: token } })
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  const scrape = async (accept?: string) => await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${token}`, ...(accept === undefined ? {} : { accept }) })
  const before = await scrape()
  const openMetrics = await scrape('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5')
  t.match(openMetrics.headers['content-type'], /^application\/openmetrics-text/)
  t.match(openMetrics.text, /^# TYPE vobiz_bff_upstream_attempts counter\nvobiz_bff_upstream_attempts_total 1$/m, 'OpenMetrics: the family without _total, its sample with')
  t.match(openMetrics.text, /# EOF\n$/)
  const after = await scrape()
  t.match(after.text, /^vobiz_bff_upstream_attempts_total 1$/m, 'the text format keeps every _total')
  t.equal(after.text.match(/_total[{ ]/g)?.length, before.text.match(/_total[{ ]/g)?.length, 'as many _total samples as before')
  const { code, output } = await promtoolCheck(after.text)
  t.equal(output.trim(), '', 'no finding')
  t.equal(code, 0)
  const again = await scrape('application/openmetrics-text;version=1.0.0')
  t.equal(again.text.replace(/\n[^\n]*(process_|nodejs_|seconds)[^\n]*/g, ''), openMetrics.text.replace(/\n[^\n]*(process_|nodejs_|seconds)[^\n]*/g, ''), 'a second OpenMetrics scrape names the same series')
})
