import t from 'tap'
import { startHarness } from '../helpers/harness.ts'

t.test('security headers on every response: the API set on JSON, helmet\'s document set on the Swagger UI pages', async (t) => {
  const h = await startHarness(t)
  for (const res of [await h.get('/profile', { 'x-api-key': h.keys.profile }), await h.get('/profile'), await h.get('/nope'), await h.get('/openapi.json')]) {
    t.equal(res.headers['x-content-type-options'], 'nosniff')
    t.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'")
    t.equal(res.headers['x-frame-options'], 'DENY')
    t.match(res.headers['strict-transport-security'], /max-age=\d+/)
    t.equal(res.headers['cross-origin-resource-policy'], 'same-origin')
    t.match(res.headers['x-request-id'], /^[0-9a-f-]{36}$/)
    for (const documentOnly of ['referrer-policy', 'x-xss-protection', 'origin-agent-cluster', 'cross-origin-opener-policy', 'x-dns-prefetch-control', 'x-download-options', 'x-permitted-cross-domain-policies']) {
      t.notOk(documentOnly in res.headers, `no ${documentOnly} on JSON`)
    }
  }
  const page = await h.get('/docs/')
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.headers['content-security-policy'], /script-src/, 'Swagger UI\'s own CSP')
  t.equal(page.headers['x-frame-options'], 'DENY')
  t.equal(page.headers['referrer-policy'], 'no-referrer')
  t.equal(page.headers['cross-origin-opener-policy'], 'same-origin')
  t.equal(page.headers['x-content-type-options'], 'nosniff')
})

t.test('without CORS_ORIGINS no origin is allowed', async (t) => {
  const h = await startHarness(t)
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile, origin: 'https://app.example.com' })
  t.equal(res.status, 200)
  t.notOk('access-control-allow-origin' in res.headers)
  const preflight = await fetch(`${h.url}/profile`, { method: 'OPTIONS', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } })
  t.equal(preflight.status, 405, 'no preflight handling at all')
  t.equal(preflight.headers.get('access-control-allow-origin'), null)
})

t.test('with an allowlist: preflight answered without a key, allowed origins echoed, others not', async (t) => {
  const h = await startHarness(t, { env: { CORS_ORIGINS: 'https://app.example.com,http://localhost:5173' } })
  const preflight = await fetch(`${h.url}/profile/balance`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-api-key, cache-control' }
  })
  t.equal(preflight.status, 204)
  t.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example.com')
  t.match(preflight.headers.get('access-control-allow-headers'), /X-API-Key/)
  t.match(preflight.headers.get('access-control-allow-headers'), /Authorization/)
  t.equal(preflight.headers.get('access-control-allow-methods'), 'GET, HEAD')
  t.equal(preflight.headers.get('access-control-allow-credentials'), null, 'credentials are never allowed')
  t.equal(h.sandbox.requests, 0)

  const res = await h.get('/profile', { 'x-api-key': h.keys.profile, origin: 'http://localhost:5173' })
  t.equal(res.headers['access-control-allow-origin'], 'http://localhost:5173')
  t.match(res.headers['access-control-expose-headers'], /ETag.*Cache-Status.*RateLimit/)
  t.match(res.headers.vary, /Origin/)
  const challenged = await h.get('/profile', { origin: 'http://localhost:5173' })
  t.equal(challenged.status, 401)
  t.ok(challenged.headers['access-control-expose-headers']?.split(/,\s*/).includes('WWW-Authenticate'), 'a browser script can read the 401 challenge')
  t.match(preflight.headers.get('access-control-allow-headers'), /If-Match/)

  const other = await h.get('/profile', { 'x-api-key': h.keys.profile, origin: 'https://evil.example' })
  t.notOk('access-control-allow-origin' in other.headers)
})

t.test('CORS_ORIGINS=* allows any origin, without credentials', async (t) => {
  const h = await startHarness(t, { env: { CORS_ORIGINS: '*' } })
  const res = await h.get('/profile', { 'x-api-key': h.keys.profile, origin: 'https://anything.example' })
  t.equal(res.headers['access-control-allow-origin'], '*')
  t.notOk('access-control-allow-credentials' in res.headers)
})
