import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * The folders of src/ depend on each other one way. Read from the import statements themselves (type imports
 * included: a type from the wrong folder is the same coupling). Files directly in src/ (the app factory, the
 * config, the clock, ...) are the wiring and the shared vocabulary, and are left out of the graph.
 */
const src = fileURLToPath(new URL('../src/', import.meta.url))

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [])
}

const folderOf = (file: string): string => relative(src, dirname(file)).split('/')[0] ?? ''

/** folder → the folders it imports from, each with one example import. */
function folderGraph (): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>()
  for (const file of sources(src)) {
    const from = folderOf(file)
    if (from === '') continue
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
      const to = folderOf(resolve(dirname(file), specifier as string))
      if (to === '' || to === from) continue
      if (!graph.has(from)) graph.set(from, new Map())
      graph.get(from)?.set(to, `${relative(src, file)} → ${specifier as string}`)
    }
  }
  return graph
}

/** A cycle, as a list of folders, or undefined. */
function findCycle (graph: Map<string, Map<string, string>>): string[] | undefined {
  const done = new Set<string>()
  const visit = (folder: string, path: string[]): string[] | undefined => {
    if (path.includes(folder)) return [...path.slice(path.indexOf(folder)), folder]
    if (done.has(folder)) return undefined
    for (const next of graph.get(folder)?.keys() ?? []) {
      const cycle = visit(next, [...path, folder])
      if (cycle !== undefined) return cycle
    }
    done.add(folder)
    return undefined
  }
  for (const folder of graph.keys()) {
    const cycle = visit(folder, [])
    if (cycle !== undefined) return cycle
  }
  return undefined
}

t.test('no import cycle between the folders of src/', async (t) => {
  const graph = folderGraph()
  t.ok(graph.size > 3, 'the graph was read')
  const cycle = findCycle(graph)
  const shown = cycle === undefined ? 'none' : cycle.slice(1).map((folder, i) => graph.get(cycle[i] as string)?.get(folder)).join(' ; ')
  t.equal(cycle, undefined, `import cycle: ${shown}`)
})

t.test('the layering rules: observability imports nothing of src/; the HTTP edge never reaches into Redis', async (t) => {
  const graph = folderGraph()
  t.same([...graph.get('observability')?.entries() ?? []], [], 'observability depends on no other folder')
  t.equal(graph.get('http')?.get('redis'), undefined, 'http → redis')
  t.equal(graph.get('vobiz')?.get('http'), undefined, 'the Vobiz client knows nothing of HTTP serving')
  t.equal(graph.get('cache')?.get('vobiz'), undefined, 'the cache knows nothing of Vobiz')
  const intoPlugins = [...graph.entries()].filter(([, to]) => to.has('plugins')).map(([from]) => from)
  t.same(intoPlugins, [], 'the service plugins are wired by app.ts only (routes use their decorators)')
})

t.test('buildApp registers plugins and decides nothing: no new, no arithmetic, short', async (t) => {
  const app = readFileSync(join(src, 'app.ts'), 'utf8')
  const body = app.slice(app.indexOf('export async function buildApp'))
  t.ok(body.split('\n').length < 60, 'a short list')
  t.notMatch(body, /\bnew [A-Z]/, 'components are made by their plugins')
  t.notMatch(body, /\* 1000/, 'no unit conversions')
})

t.test('the check sees a cycle when there is one', async (t) => {
  t.same(findCycle(new Map([['a', new Map([['b', 'x']])], ['b', new Map([['a', 'y']])]])), ['a', 'b', 'a'])
  t.equal(findCycle(new Map([['a', new Map([['b', 'x']])]])), undefined)
})
