import t from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import type { Fault } from '../../src/sandbox/sandbox.ts'
import { startTracing } from '../../src/observability/tracing.ts'
import { consumersJson, httpGet, startHarness } from '../helpers/harness.ts'
import { startIssuer } from '../helpers/issuer.ts'
import { startOtlpReceiver, testTracing } from '../helpers/otlp-receiver.ts'

/**
 * One service started with distinctive secrets, driven through every route and error path — including
 * upstream errors and malformed bodies that echo the request headers back — while every response and every
 * log line and every exported trace span is captured. None of the secrets may appear anywhere.
 */
t.test('the Vobiz credentials, consumer keys and JWTs never leak', async (t) => {
  // Traced to a real OTLP receiver: the spans are searched too (every byte that was exported).
  const receiver = await startOtlpReceiver(t)
  const tracing = await startTracing(testTracing(`${receiver.url}/v1/traces`, { serviceName: 'leak-test' }))
  const issuer = await startIssuer(t)
  await issuer.addKey('k1')
  const secrets = {
    authId: 'MA_AUTHID_SECRET_5d8f2e',
    authToken: 'vobiz-token-SECRET-0a9b8c7d6e5f',
    key: `key-SECRET-${generateApiKey()}`,
    balanceKey: `key-SECRET-${generateApiKey()}`,
    wrongKey: `wrong-SECRET-${generateApiKey()}`,
    metricsToken: 'metrics-SECRET-token-77aa'
  }
  const h = await startHarness(t, {
    sandbox: { authId: secrets.authId, authToken: secrets.authToken },
    env: {
      CONSUMERS: consumersJson({ reader: { key: secrets.key, scopes: ['profile:read'] }, billing: { key: secrets.balanceKey, scopes: ['balance:read'] } }),
      JWT_JWKS_URL: issuer.url,
      JWT_ISSUER: 'https://login.example.test/',
      JWT_AUDIENCE: 'vobiz-bff',
      UPSTREAM_TIMEOUT_MS: '300',
      BREAKER_FAILURE_THRESHOLD: '1000',
      METRICS_TOKEN: secrets.metricsToken,
      LOG_LEVEL: 'trace'
    },
    deps: { tracing }
  })
  const token = await issuer.sign({ sub: 'user-1', scope: 'profile:read' })
  const tamperedToken = `${token.slice(0, -4)}AAAA`
  const seen: string[] = []
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await h.get(path, headers)
    seen.push(JSON.stringify(res.headers), res.text)
    return res
  }
  const asReader = { 'x-api-key': secrets.key }

  // Every route, with every kind of credential.
  for (const path of ['/profile', '/profile/balance']) {
    await get(path, asReader)
    await get(path, { 'x-api-key': secrets.balanceKey })
    await get(path, { authorization: `Bearer ${token}` })
    await get(path, { authorization: `Bearer ${tamperedToken}` })
    await get(path, { 'x-api-key': secrets.wrongKey })
    await get(path)
    await get(`${path}?key=${secrets.wrongKey}`, asReader)
  }
  for (const path of ['/openapi.json', '/openapi.yaml', '/docs', '/nope']) await get(path, asReader)
  const post = await fetch(`${h.url}/profile`, { method: 'POST', headers: asReader })
  seen.push(JSON.stringify(Object.fromEntries(post.headers)), await post.text())

  // Every upstream failure, several of them echoing the request (with the credentials) back. The cached copy
  // is made too old to fall back on, so each failure reaches the consumer as a problem.
  h.clock.advance(3_600_000)
  const faults: Fault[] = [
    { kind: 'echo', status: 401 },
    { kind: 'echo', status: 403 },
    { kind: 'echo', status: 500 },
    { kind: 'echo', status: 429 },
    { kind: 'echo', status: 200 },
    { kind: 'malformed' },
    { kind: 'body', body: { id: secrets.authToken, balance: 'x' } },
    // Error bodies whose code is a credential: code-shaped, so only an allowlist keeps them out of the logs.
    { kind: 'status', status: 500, body: { error: { code: secrets.authToken } } },
    { kind: 'status', status: 401, body: { error: secrets.authId } },
    { kind: 'status', status: 503, body: { error: { code: secrets.metricsToken } } },
    { kind: 'status', status: 502 },
    { kind: 'reset', when: 'mid-body' },
    { kind: 'delay', ms: 60_000 },
    { kind: 'oversize', bytes: 100_000 }
  ]
  for (const fault of faults) {
    h.sandbox.clearFaults().inject(fault, 1)
    const res = await get('/profile', { ...asReader, 'cache-control': 'no-cache' })
    t.ok(res.status >= 500, `${fault.kind} ${'status' in fault ? fault.status : ''} → ${res.status}`)
  }
  h.sandbox.clearFaults()
  await h.sandbox.close()
  await get('/profile', { ...asReader, 'cache-control': 'no-cache' })
  // Enough wrong keys to be rate-limited, too.
  for (let i = 0; i < 35; i++) await get('/profile', { 'x-api-key': secrets.wrongKey })

  const spec = await httpGet(`${h.url}/openapi.json`)
  await h.app.close()
  await tracing.shutdown()
  const responses = seen.join('\n')
  const logs = h.rawLogs()
  const spans = receiver.raw()
  t.ok(receiver.spans.length > 100, `plenty was traced (${receiver.spans.length} spans)`)
  t.ok(receiver.spans.some((span) => span.name === 'vobiz attempt' && span.attributes['http.response.status_code'] === 401), 'the echoing upstream 401 was traced')
  t.ok(logs.length > 5000, 'plenty was logged (trace level)')
  t.match(responses, /upstream_auth_failed/, 'the echoing upstream 401 was exercised')
  t.match(responses, /rate_limited/, 'rate limiting was exercised')
  for (const [name, secret] of Object.entries({ ...secrets, token, tamperedToken, tokenSignature: token.split('.')[2] as string })) {
    t.notOk(responses.includes(secret), `${name} appears in no response`)
    t.notOk(logs.includes(secret), `${name} appears in no log line`)
    t.notOk(spans.includes(secret), `${name} appears in no span`)
  }
  t.notOk(spans.includes('request headers'), 'no upstream body appears in a span')
  for (const secret of Object.values(secrets)) t.notOk(spec.text.includes(secret), 'nor in the OpenAPI document')
})
