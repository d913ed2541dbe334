import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { sha256Hex } from '../../src/consumers.ts'
import type { Sandbox } from '../../src/sandbox/sandbox.ts'

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
  /** Resolves with the first stdout match of `pattern`; rejects, naming the process, if it exits or `ms` (default 60 s) pass first. */
  waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpMatchArray>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * `[command, args]` to run `argv` outside tap's process tracking. tap adds its module hooks to every node
 * process a test starts (through NODE_OPTIONS), which roughly doubles what starting a server costs; the compiled
 * entry points these tests start are not part of the coverage report anyway.
 */
export function untracked (argv: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', ...argv]]
}

/** Runs a compiled entry point with exactly `env` (plus PATH), capturing its output; SIGKILLed when `t` ends. */
export function run (t: Test, name: string, args: string[], env: Record<string, string>, nodeOptions: string[] = [], cwd?: string): Running {
  return capture(t, name, untracked([process.execPath, ...nodeOptions, distFile(name), ...args]), env, cwd)
}

/** Runs `argv` (a command, then its arguments) like run(): outside tap's tracking, with exactly `env` (plus PATH). */
export function runCommand (t: Test, name: string, argv: string[], env: Record<string, string>, cwd?: string): Running {
  return capture(t, name, untracked(argv), env, cwd)
}

/** Like run(), with the process's open-files limit (soft and hard: Node raises the soft one to the hard one) set to `openFiles`. */
export function runWithFileLimit (t: Test, name: string, openFiles: number, env: Record<string, string>, nodeOptions: string[] = []): Running {
  const [command, args] = untracked([process.execPath, ...nodeOptions, distFile(name)])
  return capture(t, name, ['bash', ['-c', `ulimit -n ${openFiles} && exec "$@"`, 'bash', command, ...args]], env)
}

function capture (t: Test, name: string, [command, args]: [string, string[]], env: Record<string, string>, cwd?: string): Running {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? '', ...env },
    ...(cwd === undefined ? {} : { cwd }),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
  const waitFor = async (pattern: RegExp, ms = 60_000): Promise<RegExpMatchArray> => {
    const deadline = performance.now() + ms
    for (;;) {
      const match = out.match(pattern)
      if (match !== null) return match
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${out}\n${err}`)
      if (performance.now() > deadline) throw new Error(`${name} did not print ${pattern} within ${ms / 1000} s:\n${out}\n${err}`)
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  return { child, stdout: () => out, stderr: () => err, waitFor, exited }
}

/**
 * The built server (dist/server.js) in production mode against `sandbox`, with one consumer `svc`
 * (profile:read) holding `key`; killed when `t` ends. Resolves once it logs that it is ready.
 */
/** The production-mode environment for the built server against `sandbox`, with one consumer `svc` holding `key`. */
export function serverEnv (sandbox: Sandbox, key: string): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    VOBIZ_BASE_URL: sandbox.url,
    VOBIZ_AUTH_ID: sandbox.authId,
    VOBIZ_AUTH_TOKEN: sandbox.authToken,
    CONSUMERS: JSON.stringify([{ name: 'svc', key_sha256: sha256Hex(key), scopes: ['profile:read'] }]),
    // The tests hold and count Vobiz requests from the first one they cause.
    STARTUP_FETCH: 'false'
  }
}

export async function runServerAgainst (t: Test, sandbox: Sandbox, key: string): Promise<Running & { url: string }> {
  const server = run(t, 'server.js', [], serverEnv(sandbox, key))
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  return { ...server, url: url as string }
}
