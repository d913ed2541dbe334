import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts'
import { run, runCommand, serverEnv } from '../helpers/processes.ts'
import { freePort, redisUnavailable, startRedis } from '../helpers/redis.ts'
import { until } from '../helpers/time.ts'
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts'
import { metricNames } from './promql.ts'

/**
 * The monitoring kit against the real thing: the built server with every feature that has metrics on (Redis,
 * tracing to an OTLP receiver, a webhook endpoint), scraped. Every metric family it exports is on the dashboard
 * or in deploy/grafana/unplotted.yml; every metric the dashboard and the alerts read is one it exports; and a
 * real Prometheus, given deploy/prometheus/scrape-config.yml's job, scrapes it with the token (and gets 401
 * without the right one). CI sets REQUIRE_PROMTOOL=1, which also requires the prometheus binary (the same
 * Debian package).
 */
const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url))
const PROMETHEUS = process.env.PROMETHEUS_PATH ?? 'prometheus'
const prometheus = spawnSync(PROMETHEUS, ['--version'], { stdio: 'ignore' }).status === 0 || process.env.REQUIRE_PROMTOOL === '1'
  ? false
  : 'prometheus is not installed (apt-get install prometheus, or set PROMETHEUS_PATH); .ci/run installs it'

interface Rule { record?: string, alert?: string, expr: string }
const rules = (parse(readFileSync(`${deploy}prometheus/alerts.yml`, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((group) => group.rules)
const dashboard = JSON.parse(readFileSync(`${deploy}grafana/vobiz-bff.json`, 'utf8')) as { panels: Array<{ title: string, targets: Array<{ expr: string }> }> }
const unplotted = parse(readFileSync(`${deploy}grafana/unplotted.yml`, 'utf8')) as Record<string, string>

/** The metric names defined in src/ (`name: 'vobiz_…'`), so that a family registered only under some configuration is not missed. */
function definedInSource (): string[] {
  const files = spawnSync('grep', ['-rhoE', String.raw`name: '(vobiz|http)_[a-z_]+'`, fileURLToPath(new URL('../../src/', import.meta.url))], { encoding: 'utf8' }).stdout
  return [...new Set([...files.matchAll(/'([a-z_]+)'/g)].map((m) => m[1] as string))]
}

t.test('the running service, scraped by the dashboard\'s and Prometheus\'s rules', { skip: redisUnavailable(), timeout: 180_000 }, async (t) => {
  const redis = await startRedis(t)
  const otlp = await startOtlpReceiver(t)
  const hook = await startWebhookReceiver(t)
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const dir = mkdtempSync(join(tmpdir(), 'monitoring-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const token = randomBytes(24).toString('base64url')
  writeFileSync(join(dir, 'token'), `${token}\n`)
  writeFileSync(join(dir, 'wrong-token'), 'not-the-metrics-token-0123\n')
  writeFileSync(join(dir, 'webhooks.json'), JSON.stringify([{ name: 'ledger', url: hook.url, events: ['balance'], secret: hook.secret }]))
  const key = randomBytes(24).toString('base64url')
  const server = run(t, 'server.js', [], {
    ...serverEnv(sandbox, key),
    STARTUP_FETCH: 'true',
    METRICS_TOKEN_FILE: join(dir, 'token'),
    REDIS_URL: redis.url,
    WEBHOOKS_FILE: join(dir, 'webhooks.json'),
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: '100'
  })
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/) as [string, string]
  t.equal((await httpGet(`${url}/profile`, { 'x-api-key': key })).status, 200)
  await otlp.waitForSpan('the request\'s server span', (span) => span.name === 'GET /profile')

  t.test('every family the service exports is on the dashboard, or listed as deliberately unplotted', async (t) => {
    const scrape = (await httpGet(`${url}/metrics`, { authorization: `Bearer ${token}` })).text
    const families = new Map([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name as string, type as string]))
    for (const name of definedInSource()) t.ok(families.has(name), `${name} (defined in src/) is exported with every feature on`)
    const plotted = new Set(dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => metricNames(target.expr))))
    for (const [family, type] of families) {
      const series = type === 'histogram' ? [`${family}_bucket`, `${family}_count`, `${family}_sum`] : [family]
      const onPanel = series.some((name) => plotted.has(name))
      t.ok(onPanel !== (family in unplotted), `${family}: ${onPanel ? 'on a panel' : family in unplotted ? `unplotted: ${unplotted[family] as string}` : 'neither on a panel nor in deploy/grafana/unplotted.yml'}`)
    }
    for (const family of Object.keys(unplotted)) t.ok(families.has(family), `unplotted.yml: ${family} is a family the service exports`)

    const exported = new Set([...families].flatMap(([name, type]) => type === 'histogram' ? [name, `${name}_bucket`, `${name}_count`, `${name}_sum`] : [name]))
    const recorded = new Set(rules.flatMap((rule) => rule.record === undefined ? [] : [rule.record]))
    const used = [
      ...rules.map((rule) => ({ where: `alerts.yml ${rule.alert ?? rule.record as string}`, expr: rule.expr })),
      ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ where: `dashboard "${panel.title}"`, expr: target.expr })))
    ]
    for (const { where, expr } of used) {
      for (const name of metricNames(expr)) t.ok(exported.has(name) || recorded.has(name), `${where}: ${name} is exported`)
    }
  })

  t.test('a real Prometheus with scrape-config.yml\'s job scrapes it with the token, and gets 401 with a wrong one', { skip: prometheus }, async (t) => {
    const shipped = (parse(readFileSync(`${deploy}prometheus/scrape-config.yml`, 'utf8')) as { scrape_configs: Array<Record<string, any>> }).scrape_configs
    t.equal(shipped.length, 1)
    const job = shipped[0] as { job_name: string, authorization: { type: string, credentials_file: string }, static_configs: Array<{ targets: string[] }> }
    t.equal(job.authorization.type, 'Bearer')
    // The shipped job as is, but for where the service and the token file are here, and a scrape every second.
    const here = (name: string, tokenFile: string): Record<string, unknown> => ({ ...job, job_name: name, scrape_interval: '1s', scrape_timeout: '1s', authorization: { ...job.authorization, credentials_file: tokenFile }, static_configs: [{ targets: [new URL(url).host] }] })
    writeFileSync(join(dir, 'prometheus.yml'), stringify({ scrape_configs: [here(job.job_name, join(dir, 'token')), here('wrong-token', join(dir, 'wrong-token'))] }))
    const port = await freePort()
    const prom = runCommand(t, 'prometheus', [PROMETHEUS, `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {})
    const api = `http://127.0.0.1:${port}/api/v1`
    interface Target { labels: { job: string }, health: string, lastError: string }
    let targets: Target[] = []
    await until('both targets scraped, and a vobiz_bff_ series stored', async () => {
      if (prom.child.exitCode !== null) throw new Error(`prometheus exited: ${prom.stderr()}`)
      try {
        targets = (await httpGet(`${api}/targets`)).json().data.activeTargets as Target[]
        const stored = (await httpGet(`${api}/query?query=${encodeURIComponent(`count({__name__=~"vobiz_bff_.+",job="${job.job_name}"})`)}`)).json().data.result as unknown[]
        return targets.length === 2 && targets.every((target) => target.health !== 'unknown') && stored.length === 1
      } catch {
        return false
      }
    })
    const byJob = Object.fromEntries(targets.map((target) => [target.labels.job, target]))
    t.equal(byJob[job.job_name]?.health, 'up', `the shipped job scrapes (${byJob[job.job_name]?.lastError ?? ''})`)
    t.equal(byJob['wrong-token']?.health, 'down')
    t.match(byJob['wrong-token']?.lastError, /401/, 'a scrape without the right token is refused')
    const breaker = (await httpGet(`${api}/query?query=vobiz_bff_breaker_state`)).json().data.result as Array<{ value: [number, string] }>
    t.same(breaker.map((sample) => sample.value[1]), ['0'], 'the breaker state, stored as the service reported it')
  })
})
