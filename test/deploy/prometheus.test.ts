import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { metricNames } from './promql.ts'

/**
 * What ships in deploy/prometheus/: the alert rules, unit-tested by Prometheus's own promtool, each with a
 * runbook in docs/runbooks.md, and the scrape job, checked by promtool as part of a prometheus.yml.
 * test/deploy/monitoring.test.ts checks the metrics they use against a real scrape. CI sets REQUIRE_PROMTOOL=1.
 */
const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool'
const promtool = spawnSync(PROMTOOL, ['--version']).status === 0 || process.env.REQUIRE_PROMTOOL === '1'
  ? false
  : 'promtool is not installed (apt-get install prometheus, or set PROMTOOL_PATH); .ci/run installs it'
const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url))

interface Rule { record?: string, alert?: string, expr: string, annotations?: Record<string, string> }
const groups = (parse(readFileSync(`${deploy}prometheus/alerts.yml`, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups
const rules = groups.flatMap((group) => group.rules)

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

t.test('metric names are read from PromQL without labels, functions or strings', async (t) => {
  t.same(metricNames('histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"/profile.*"}[5m])))'), ['http_request_duration_seconds_bucket'])
  t.same(metricNames('vobiz_partner_balance < on() group_left() vobiz_bff:low_balance_threshold'), ['vobiz_partner_balance', 'vobiz_bff:low_balance_threshold'])
})

/** The anchor GitHub (and most Markdown renderers) give a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')
}

t.test('every alert has a runbook_url pointing at a section of docs/runbooks.md', async (t) => {
  const runbooks = readFileSync(new URL('../../docs/runbooks.md', import.meta.url), 'utf8')
  const anchors = new Set([...runbooks.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1] as string)))
  const alerts = rules.filter((rule) => rule.alert !== undefined)
  t.ok(alerts.length >= 11)
  for (const rule of alerts) {
    const url = rule.annotations?.runbook_url ?? ''
    const [path, anchor] = url.split('#')
    t.equal(path, 'docs/runbooks.md', `${rule.alert as string}: runbook_url ${url}`)
    t.ok(anchors.has(anchor as string), `${rule.alert as string}: #${anchor as string} is a heading of docs/runbooks.md`)
  }
  t.equal(anchorOf('VobizBffLoadShedding'), 'vobizbffloadshedding')
  t.equal(anchorOf('Rotate and revoke, without a restart'), 'rotate-and-revoke-without-a-restart')
})

t.test('promtool: a prometheus.yml with the shipped scrape job and rules is valid', { skip: promtool }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prometheus-config-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const { scrape_configs: jobs } = parse(readFileSync(`${deploy}prometheus/scrape-config.yml`, 'utf8')) as { scrape_configs: Array<{ authorization: { credentials_file: string } }> }
  // The token file where the job expects it, here: promtool checks that it exists.
  writeFileSync(join(dir, 'token'), 'a-metrics-token-of-16-or-more\n')
  const config = { rule_files: [`${deploy}prometheus/alerts.yml`], scrape_configs: jobs.map((job) => ({ ...job, authorization: { ...job.authorization, credentials_file: join(dir, 'token') } })) }
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config))
  const check = spawnSync(PROMTOOL, ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' })
  t.equal(check.status, 0, check.stdout + check.stderr)
  t.match(check.stdout, /SUCCESS/)
  writeFileSync(join(dir, 'broken.yml'), stringify({ scrape_configs: [{ job_name: 'x', authorization: { credentials: 'a', credentials_file: join(dir, 'token') } }] }))
  t.not(spawnSync(PROMTOOL, ['check', 'config', join(dir, 'broken.yml')]).status, 0, 'promtool does refuse a bad authorization block')
})
