import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))

/** Path of a compiled entry point (or an absolute path); the tests that run the built server need `npm run build` first (npm test does it). */
export function distFile (name: string): string {
  const path = name.startsWith('/') ? name : `${root}dist/${name}`
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first (npm test does)`)
  return path
}

export interface Running {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves with the first stdout match of `pattern`, or rejects after `ms`. */
  waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Runs a compiled entry point with exactly `env` (plus PATH), capturing its output. */
export function run (name: string, args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, [distFile(name), ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  const waitFor = async (pattern: RegExp, ms = 10_000): Promise<RegExpMatchArray> => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const match = out.match(pattern)
      if (match !== null) return match
      if (child.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    throw new Error(`no ${pattern} in output:\n${out}\n${err}`)
  }
  return { child, stdout: () => out, stderr: () => err, waitFor, exited }
}
