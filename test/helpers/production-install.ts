import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { untracked } from './processes.ts'

const execFileAsync = promisify(execFile)
const root = fileURLToPath(new URL('../../', import.meta.url))

/**
 * The production dependencies as the image's deps stage installs them (`npm ci --omit=dev`), once per
 * lockfile: kept under node_modules/.cache by the lockfile's hash, so that only a changed lockfile (or a new
 * `npm ci`, which empties node_modules) pays for the install again. Installed aside, then renamed into place,
 * so that a run stopped half-way never leaves a partial install to be reused.
 */
export async function productionDependencies (): Promise<string> {
  const lock = readFileSync(join(root, 'package-lock.json'))
  const dir = join(root, 'node_modules/.cache/production-install', createHash('sha256').update(lock).digest('hex').slice(0, 16))
  if (existsSync(join(dir, 'node_modules/.package-lock.json'))) return join(dir, 'node_modules')
  mkdirSync(join(dir, '..'), { recursive: true })
  const staging = mkdtempSync(`${dir}.partial-`)
  cpSync(join(root, 'package.json'), join(staging, 'package.json'))
  cpSync(join(root, 'package-lock.json'), join(staging, 'package-lock.json'))
  await execFileAsync(...untracked(['npm', 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund']), { cwd: staging, env: { ...process.env, NODE_ENV: 'production' } })
  rmSync(dir, { recursive: true, force: true })
  renameSync(staging, dir)
  return join(dir, 'node_modules')
}
