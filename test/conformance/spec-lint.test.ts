import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import t from 'tap'
import { untracked } from '../helpers/processes.ts'

/**
 * The committed OpenAPI document, checked by two linters this project did not write: Redocly CLI
 * (`recommended`, redocly.yaml) and Spectral (`spectral:oas`, .spectral.yaml). Each rule switched off there
 * says why in a comment; everything else must pass without an error or a warning.
 */
const root = fileURLToPath(new URL('../../', import.meta.url))
const run = promisify(execFile)
const bin = (name: string): string => `${root}node_modules/.bin/${name}`

t.test('Redocly CLI (recommended): no error, no warning', async (t) => {
  const [command, args] = untracked([bin('redocly'), 'lint', 'openapi/openapi.json', '--format=json'])
  const { stdout } = await run(command, args, { cwd: root, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
  const report = JSON.parse(stdout) as { totals: { errors: number, warnings: number }, problems: Array<{ ruleId: string, message: string }> }
  t.same(report.problems.map((p) => `${p.ruleId}: ${p.message}`), [])
  t.same(report.totals, { errors: 0, warnings: 0, ignored: 0 })
})

t.test('Spectral (spectral:oas): no error, no warning', async (t) => {
  const [command, args] = untracked([bin('spectral'), 'lint', 'openapi/openapi.json', '--format=json', '--fail-severity=warn'])
  const { stdout } = await run(command, args, { cwd: root }).catch((err: { stdout: string }) => err)
  const results = JSON.parse(stdout.slice(0, stdout.lastIndexOf(']') + 1)) as Array<{ code: string, message: string, path: string[] }>
  t.same(results.map((r) => `${r.code}: ${r.message} at ${r.path.join('.')}`), [])
})
