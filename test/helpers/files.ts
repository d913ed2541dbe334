import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/** A temporary directory holding `files`, removed when `t` ends. */
export function directory (t: Test, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'vobiz-bff-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content)
  return dir
}

/** Writes the way editors and config tools do: a temporary file renamed over the old one. */
export function replaceFile (path: string, content: string): void {
  writeFileSync(`${path}.tmp`, content)
  renameSync(`${path}.tmp`, path)
}
