import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configurationReference } from '../src/config-docs.ts'

/** npm run docs [DIR]: writes docs/configuration.md (into DIR instead of the checkout, when given). */
export async function writeDocs (root: string): Promise<string> {
  await mkdir(join(root, 'docs'), { recursive: true })
  const path = join(root, 'docs/configuration.md')
  await writeFile(path, configurationReference())
  return path
}

/* c8 ignore next 3 */
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`wrote ${await writeDocs(process.argv[2] ?? fileURLToPath(new URL('../', import.meta.url)))}\n`)
}
