import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { httpGet, startHarness } from '../helpers/harness.ts'
import { redisUnavailable, startRedis } from '../helpers/redis.ts'

/**
 * What ships in deploy/: the alert rules, unit-tested by Prometheus's own promtool, and the Grafana dashboard;
 * every metric either uses is one a real scrape of the service shows. CI sets REQUIRE_PROMTOOL=1.
 */
const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool'
const promtool = spawnSync(PROMTOOL, ['--version']).status === 0 || process.env.REQUIRE_PROMTOOL === '1'
  ? false
  : 'promtool is not installed (apt-get install prometheus, or set PROMTOOL_PATH); .ci/run installs it'
const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url))

interface Rule { record?: string, alert?: string, expr: string }
const groups = (parse(readFileSync(`${deploy}prometheus/alerts.yml`, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups
const rules = groups.flatMap((group) => group.rules)
const dashboard = JSON.parse(readFileSync(`${deploy}grafana/vobiz-bff.json`, 'utf8')) as { panels: Array<{ title: string, targets: Array<{ expr: string }> }> }

const PROMQL_WORDS = new Set(['histogram_quantile', 'group_left', 'group_right'])

/** The metric names a PromQL expression reads (label names, matchers, functions and strings left out). */
function metricNames (expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  return [...new Set([...bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)].map((m) => m[0]).filter((word) => word.includes('_') && !PROMQL_WORDS.has(word)))]
}

t.test('promtool: the rules are valid, and every alert fires and stays quiet when its tests say', { skip: promtool }, async (t) => {
  const check = spawnSync(PROMTOOL, ['check', 'rules', 'alerts.yml'], { cwd: `${deploy}prometheus`, encoding: 'utf8' })
  t.equal(check.status, 0, check.stdout + check.stderr)
  const tested = spawnSync(PROMTOOL, ['test', 'rules', 'alerts.test.yml'], { cwd: `${deploy}prometheus`, encoding: 'utf8' })
  t.equal(tested.status, 0, tested.stdout + tested.stderr)
  const tests = readFileSync(`${deploy}prometheus/alerts.test.yml`, 'utf8')
  for (const rule of rules.filter((r) => r.alert !== undefined)) {
    t.match(tests, new RegExp(`alertname: ${rule.alert as string}\\n\\s+exp_alerts: \\[\\]`), `${rule.alert as string}: a case where it does not fire`)
    t.match(tests, new RegExp(`alertname: ${rule.alert as string}\\n\\s+exp_alerts:\\n`), `${rule.alert as string}: a case where it fires`)
  }
})

t.test('every metric the alerts and the dashboard use is one a real scrape shows', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis(t)
  const token = 'deploy-metrics-token-0123'
  // With Redis, so that the fleet's metrics exist too.
  const h = await startHarness(t, { env: { METRICS_TOKEN: token, REDIS_URL: redis.url } })
  const scrape = (await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${token}` })).text
  const exported = new Set<string>()
  for (const [, name, type] of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exported.add(name as string)
    if (type === 'histogram') for (const suffix of ['_bucket', '_count', '_sum']) exported.add(`${name as string}${suffix}`)
  }
  const recorded = new Set(rules.flatMap((rule) => rule.record === undefined ? [] : [rule.record]))
  const used = [
    ...rules.map((rule) => ({ where: `alerts.yml ${rule.alert ?? rule.record as string}`, expr: rule.expr })),
    ...dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ where: `dashboard "${panel.title}"`, expr: target.expr })))
  ]
  t.ok(used.length > 20)
  for (const { where, expr } of used) {
    for (const name of metricNames(expr)) t.ok(exported.has(name) || recorded.has(name), `${where}: ${name}`)
  }
})

t.test('metric names are read from PromQL without labels, functions or strings', async (t) => {
  t.same(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"/profile.*"}[5m])))'), ['http_request_duration_seconds_bucket'])
  t.same(metricNames('vobiz_partner_balance < on() group_left() vobiz_bff:low_balance_threshold'), ['vobiz_partner_balance', 'vobiz_bff:low_balance_threshold'])
})
