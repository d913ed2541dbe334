import t from 'tap'
import { startHarness } from '../helpers/harness.ts'

// Every route answers every method on purpose: what it serves, or 405 with an Allow header that names exactly
// what it serves. Walks the app's own route table, so that a route added later is walked too (and cannot
// fall into Fastify's automatic HEAD, which would run a GET handler for a HEAD).

/** Every registered path with its methods, from Fastify's route tree (`printRoutes`). */
function routeTable (tree: string): Map<string, string[]> {
  const table = new Map<string, string[]>()
  const prefixes: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^(.*?)── (.+) \(([A-Z, ]+)\)$/.exec(line)
    if (match === null) continue
    const depth = (match[1] as string).length / 4
    const path = (prefixes[depth - 1] ?? '') + (match[2] as string)
    prefixes[depth] = path
    table.set(path, (match[3] as string).split(', '))
  }
  return table
}

// With CORS, OPTIONS answers preflights on every path; without, it is refused like any method a path does not serve.
for (const cors of [true, false]) {
  t.test(`every path × every method${cors ? ' (CORS on)' : ''}: served, or 405 with an Allow that names what is served; HEAD never opens a stream`, async (t) => {
    const h = await startHarness(t, { env: { METRICS_TOKEN: 'methods-test-metrics-token-0123456789', ...(cors ? { CORS_ORIGINS: 'https://app.example.com' } : {}) } })
    const table = routeTable(h.app.printRoutes({ commonPrefix: false }))
    t.ok(table.has('/profile/events'), 'the walk sees the stream route')
    t.ok(table.size >= 10, 'and the others')
    const headers = { 'x-api-key': h.keys.profile, authorization: 'Bearer methods-test-metrics-token-0123456789' }
    for (const [template, registered] of table) {
    // `*` alone is the CORS preflight route (OPTIONS on any path). Swagger UI's static files (`/docs/static/*`,
    // which Fastify's tree prints as `/docs/*`) are tried with one it serves.
      if (template === '*') continue
      const path = template.replace('*', 'static/swagger-ui.css')
      const served = new Set<string>()
      const allows = new Set<string>()
      for (const method of h.app.supportedMethods) {
      // The stream itself is tested elsewhere: here, only that nothing else can open one.
        if (method === 'GET' && path === '/profile/events') {
          served.add(method)
          continue
        }
        // Methods that may carry a body are sent one, so that what answers is the route, not the body parser.
        const body = ['GET', 'HEAD'].includes(method) ? {} : { payload: '{}', headers: { ...headers, 'content-type': 'application/json' } }
        const res = await h.app.inject({ method: method as 'GET', url: path, headers, ...body })
        t.not(res.statusCode, 404, `${method} ${path} is routed`)
        if (res.statusCode === 405) {
          const allow = res.headers.allow
          t.type(allow, 'string', `${method} ${path}: 405 with Allow`)
          for (const name of String(allow).split(', ')) allows.add(name)
          t.match(res.headers['content-type'], /^application\/problem\+json/)
        } else {
          served.add(method)
        }
      }
      // OPTIONS answers CORS preflights on every path, so it is served without being in Allow.
      if (cors) served.delete('OPTIONS')
      if (allows.size > 0) t.same([...served].sort(), [...allows].sort(), `${template}: Allow names exactly what is served`)
      t.ok([...served].every((method) => registered.includes(method) || method === 'HEAD'), `${template}: only registered methods are served`)
    }
    const head = await h.app.inject({ method: 'HEAD', url: '/profile/events', headers: { 'x-api-key': h.keys.profile } })
    t.equal(head.statusCode, 405)
    t.equal(head.headers.allow, 'GET')
    t.match(await h.app.metrics.registry.getSingleMetricAsString('vobiz_bff_event_streams'), / 0$/m, 'no stream was opened')
    t.equal(h.app.changes.keepFresh.holders, 0, 'nor is the profile kept fresh for one')
  })
}
