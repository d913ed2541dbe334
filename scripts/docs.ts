import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configurationReference, envExample } from '../src/config-docs.ts'

/** npm run docs [DIR]: writes docs/configuration.md and .env.example (into DIR instead of the checkout, when given). */
export async function writeDocs (root: string): Promise<string[]> {
  await mkdir(join(root, 'docs'), { recursive: true })
  const files = { 'docs/configuration.md': configurationReference(), '.env.example': envExample() }
  for (const [path, content] of Object.entries(files)) await writeFile(join(root, path), content)
  return Object.keys(files).map((path) => join(root, path))
}

/* c8 ignore next 3 */
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const path of await writeDocs(process.argv[2] ?? fileURLToPath(new URL('../', import.meta.url)))) process.stdout.write(`wrote ${path}\n`)
}
