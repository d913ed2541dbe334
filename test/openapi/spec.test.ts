import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SwaggerParser from '@apidevtools/swagger-parser'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { generateOpenApiFiles, writeOpenApiFiles } from '../../scripts/openapi.ts'
import { PROBLEMS } from '../../src/schemas/problem.ts'
import { startHarness } from '../helpers/harness.ts'

const root = new URL('../../', import.meta.url)
const committed = (path: string) => readFileSync(new URL(path, root), 'utf8')
const spec = JSON.parse(committed('openapi/openapi.json'))

t.test('the committed openapi/ files are exactly what the code generates', async (t) => {
  const generated = await generateOpenApiFiles()
  t.same(Object.keys(generated).sort(), ['openapi/openapi.json', 'openapi/openapi.yaml', 'openapi/schema.d.ts'])
  for (const [path, content] of Object.entries(generated)) {
    t.ok(content === committed(path), `${path} is out of date: run \`npm run openapi\` and commit the result`)
  }
  t.same(parseYaml(committed('openapi/openapi.yaml')), spec, 'the YAML and JSON say the same')
})

t.test('npm run openapi writes those files (into a directory of its own here)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'))
  const written = await writeOpenApiFiles(dir)
  t.equal(written.length, 3)
  for (const path of ['openapi/openapi.json', 'openapi/openapi.yaml', 'openapi/schema.d.ts']) {
    t.ok(readFileSync(join(dir, path), 'utf8') === committed(path), `${path} matches the committed copy`)
  }
})

t.test('the spec is valid OpenAPI 3.1 (swagger-parser)', async (t) => {
  const api = await SwaggerParser.validate(structuredClone(spec))
  t.equal((api as { openapi: string }).openapi, '3.1.0')
})

/** The committed spec as a service without JWT configuration serves it: no bearer scheme, nor requirement. */
function withoutBearer (document: any): any {
  const copy = structuredClone(document)
  delete copy.components.securitySchemes.bearer
  for (const item of Object.values<any>(copy.paths)) {
    for (const operation of Object.values<any>(item)) {
      if (Array.isArray(operation.security)) operation.security = operation.security.filter((r: object) => !('bearer' in r))
    }
  }
  return copy
}

t.test('the spec documents every route, status, header and scope', async (t) => {
  const { version } = JSON.parse(committed('package.json'))
  t.equal(spec.info.version, version, 'info.version comes from package.json')
  t.match(spec.info.description, /PROFILE_TTL_SECONDS/)
  t.same(Object.keys(spec.paths).sort(), ['/health/live', '/health/ready', '/profile', '/profile/balance', '/profile/events'], 'the API, its event stream and the probes; docs and metrics routes are hidden')
  t.same(spec.paths['/health/ready'].get.tags, ['health'], 'probes are apart from the API tag')
  t.same(Object.keys(spec.paths['/health/ready'].get.responses), ['200', '503'])
  t.match(spec.components.securitySchemes, {
    apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
    bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }
  })
  t.same(spec.paths['/profile'].get.security, [{ apiKey: ['profile:read'] }, { bearer: ['profile:read'] }])
  t.same(spec.paths['/profile/balance'].get.security, [{ apiKey: ['profile:read'] }, { bearer: ['profile:read'] }, { apiKey: ['balance:read'] }, { bearer: ['balance:read'] }])
  for (const probe of ['/health/live', '/health/ready']) t.same(spec.paths[probe].get.security, [], `${probe} needs no credentials`)
  t.same(spec.servers, [{ url: '/', description: String(spec.servers[0].description) }], 'a relative server: right wherever the spec is fetched from')
  t.match(spec.info, { license: { name: String }, contact: { name: String } })

  const documentedCodes = new Set<string>()
  const events = spec.paths['/profile/events'].get
  t.same(Object.keys(events.responses), ['200', '400', '401', '403', '406', '429', '500', '502', '503', '504'], 'the event stream: no 304 nor 412, and 406')
  t.same(Object.keys(events.responses['200'].content), ['text/event-stream'])
  t.same(events.responses['200'].content['text/event-stream'].schema.anyOf.map((m: any) => m.properties.event.enum[0]), ['snapshot', 'balance', 'billing', 'contact', 'end'], 'every event documented with its data schema')
  t.same(Object.keys(events.responses['200'].headers), ['Cache-Control', 'X-Accel-Buffering', 'X-Request-Id', 'RateLimit-Policy', 'RateLimit'], 'the stream\'s headers documented')
  t.notOk('head' in spec.paths['/profile/events'], 'HEAD does not open a stream (405, undocumented like every other method refused)')
  t.same(events.parameters.map((p: any) => `${p.in}:${p.name}`), ['header:last-event-id', 'header:x-request-id'])
  t.same(events.security, [{ apiKey: ['profile:read'] }, { bearer: ['profile:read'] }, { apiKey: ['balance:read'] }, { bearer: ['balance:read'] }])
  for (const [path, item] of Object.entries<any>(spec.paths).filter(([p]) => p.startsWith('/profile') && p !== '/profile/events')) {
    const responses = item.get.responses
    t.same(Object.keys(responses), ['200', '304', '400', '401', '403', '412', '429', '500', '502', '503', '504'], path)
    t.same(item.get.parameters.map((p: any) => `${p.in}:${p.name}`), ['header:cache-control', 'header:if-none-match', 'header:if-match', 'header:x-request-id'], 'what clients send, besides credentials')
    t.same(Object.keys(item.head.responses), Object.keys(responses), `HEAD ${path} is documented with the same statuses`)
    t.ok(Object.values<any>(item.head.responses).every((r) => !('content' in r)), 'HEAD answers have no content')
    t.same(item.head.responses['200'].headers, responses['200'].headers, 'and the same headers')
    t.same(item.head.security, item.get.security)
    t.same(Object.keys(responses['200'].headers), ['Cache-Control', 'Age', 'ETag', 'Cache-Status', 'X-Request-Id', 'RateLimit-Policy', 'RateLimit'])
    t.ok(Object.values<any>(responses['200'].headers).every((h) => h.required === true), 'success headers are required')
    t.same(Object.keys(responses['304'].headers), Object.keys(responses['200'].headers))
    t.notOk('content' in responses['304'], '304 has no body')
    t.ok(responses['200'].content['application/json'].example, 'a realistic example')
    for (const status of ['400', '401', '403', '412', '429', '500', '502', '503', '504']) {
      const content = responses[status].content['application/problem+json']
      t.ok(content, `${path} ${status} is application/problem+json`)
      for (const code of content.schema.properties.code.enum) {
        documentedCodes.add(code)
        t.equal(PROBLEMS[code as keyof typeof PROBLEMS].status, Number(status), `${code} is sent with ${status}`)
      }
    }
    t.ok(responses['503'].headers['Retry-After'])
    t.ok(responses['429'].headers['Retry-After'])
    t.ok(responses['429'].headers.RateLimit)
    t.ok(responses['401'].headers['WWW-Authenticate'])
  }
  t.same([...documentedCodes].sort(), ['bad_request', 'insufficient_scope', 'internal_error', 'invalid_api_key', 'invalid_token', 'missing_api_key', 'not_cached', 'precondition_failed', 'rate_limited', 'service_unavailable',
    'upstream_auth_failed', 'upstream_invalid_response', 'upstream_rate_limited', 'upstream_timeout', 'upstream_unavailable'])
  t.notMatch(JSON.stringify(spec), /auth_id|X-Auth-Token|x-auth-token/i, 'nothing about the Vobiz credentials')
})

t.test('the running service serves the same spec at /openapi.json and /openapi.yaml, and Swagger UI at /docs', async (t) => {
  const h = await startHarness(t)
  const json = await fetch(`${h.url}/openapi.json`)
  t.equal(json.status, 200)
  t.equal(json.headers.get('content-type'), 'application/json; charset=utf-8')
  // This service has no JWT configuration: it serves the committed spec without the bearer scheme.
  const served = withoutBearer(spec)
  t.same(await json.json(), served)
  t.notOk('bearer' in served.components.securitySchemes)
  const yaml = await fetch(`${h.url}/openapi.yaml`)
  t.equal(yaml.headers.get('content-type'), 'application/yaml; charset=utf-8')
  t.same(parseYaml(await yaml.text()), served)
  const docs = await fetch(`${h.url}/docs`)
  t.equal(docs.status, 200)
  t.match(await docs.text(), /swagger-ui/i)
  const csp = docs.headers.get('content-security-policy') ?? ''
  t.match(csp, /script-src 'self' ?;/, 'Swagger UI is served with a CSP allowing only its own scripts')
  t.match(csp, /style-src 'self' 'unsafe-inline';/)
  t.notMatch(csp, /upgrade-insecure-requests|validator\.swagger\.io/)
  const api = await h.get('/profile', { 'x-api-key': h.keys.profile })
  t.equal(api.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", 'the API keeps its own, stricter CSP')
  t.equal(h.sandbox.requests, 1, 'the docs needed no key and no upstream call; only /profile did')
})

t.test('DOCS_ENABLED=false turns the docs routes off', async (t) => {
  const h = await startHarness(t, { env: { DOCS_ENABLED: 'false' } })
  for (const path of ['/openapi.json', '/openapi.yaml', '/docs', '/docs/static/index.html']) {
    t.equal((await h.get(path)).status, 404, path)
  }
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200)
})
