import { readFileSync } from 'node:fs'
import { codeOf } from './caught.ts'

/** The variables that may come from a file instead (`<NAME>_FILE`: the Docker / Kubernetes secrets convention). */
export const FILE_VARIABLES = ['VOBIZ_AUTH_ID', 'VOBIZ_AUTH_TOKEN', 'METRICS_TOKEN', 'REDIS_URL'] as const
export type FileVariable = typeof FILE_VARIABLES[number]

/** A secret as written in a file: the whole content less its trailing line break(s). */
export function secretOf (content: string): string {
  return content.replace(/[\r\n]+$/, '')
}

/** A secret file's value. */
export function readSecretFile (path: string): string {
  return secretOf(readFileSync(path, 'utf8'))
}

/**
 * Fills `<NAME>` from `<NAME>_FILE` for each variable that allows it, in place. Setting both forms, or a file
 * that cannot be read, is a problem (named, never with the content).
 */
export function resolveSecretFiles (raw: Record<string, string>, problems: string[]): void {
  for (const name of FILE_VARIABLES) {
    const path = raw[`${name}_FILE`]
    if (path === undefined) continue
    if (raw[name] !== undefined) {
      problems.push(`${name}, ${name}_FILE: both are set; expected only one of them`)
      continue
    }
    try {
      raw[name] = readSecretFile(path)
    } catch (err) {
      problems.push(`${name}_FILE: cannot read ${JSON.stringify(path)} (${String(codeOf(err))}); expected the path of a file holding ${name}`)
    }
  }
}
