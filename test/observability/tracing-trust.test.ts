import { randomBytes } from 'node:crypto'
import t from 'tap'
import { startTracing } from '../../src/observability/tracing.ts'
import { startHarness } from '../helpers/harness.ts'
import { startIssuer } from '../helpers/issuer.ts'
import { startOtlpReceiver, testTracing } from '../helpers/otlp-receiver.ts'
import { until } from '../helpers/time.ts'

// Whose traceparent is honoured. The sampler is parentbased_traceidratio at ratio 0: no trace starts here, so
// a span is exported only if a caller's sampled traceparent was continued. One SDK for the file (it is the process's).

const SERVER = 2
const receiver = await startOtlpReceiver(t)
const tracing = await startTracing(testTracing(`${receiver.url}/v1/traces`, { sampler: 'parentbased_traceidratio', samplerRatio: 0 }))
t.teardown(async () => { await tracing.shutdown() })

const newTrace = (): { traceId: string, traceparent: string } => {
  const traceId = randomBytes(16).toString('hex')
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` }
}

t.test('a sampled traceparent is honoured for an authenticated caller only: anonymous requests (401, 429, 404, a wrong key, a refused token) are never sampled by it', async (t) => {
  const issuer = await startIssuer(t)
  await issuer.addKey('k1')
  const h = await startHarness(t, {
    deps: { tracing },
    env: { JWT_JWKS_URL: issuer.url, JWT_ISSUER: 'https://login.example.test/', JWT_AUDIENCE: 'vobiz-bff', ANONYMOUS_RATE_LIMIT_PER_MINUTE: '20' }
  })

  const anonymous = new Set<string>()
  const statuses: number[] = []
  const anonymously = async (path: string, headers: Record<string, string> = {}): Promise<void> => {
    const { traceId, traceparent } = newTrace()
    anonymous.add(traceId)
    statuses.push((await h.get(path, { ...headers, traceparent })).status)
  }
  for (let i = 0; i < 50; i++) await anonymously('/profile')
  await anonymously('/profile', { 'x-api-key': 'not-a-key-of-anyone' })
  await anonymously('/profile', { authorization: 'Bearer not.a.token' })
  await anonymously('/profile', { authorization: `Bearer ${await issuer.sign({ sub: 'user-1', scope: 'profile:read' }, { aud: 'someone-else' })}` })
  await anonymously('/nowhere')
  t.ok(statuses.includes(401) && statuses.includes(429), `401s and 429s among them (${[...new Set(statuses)].join(', ')})`)
  t.ok(statuses.every((status) => status === 401 || status === 429 || status === 404))

  // Then two callers who are who they say: an API key's consumer, and a user with a valid JWT.
  const keyed = newTrace()
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile, traceparent: keyed.traceparent })).status, 200)
  const token = await issuer.sign({ sub: 'user-2', scope: 'profile:read' })
  const bearer = newTrace()
  t.equal((await h.get('/profile', { authorization: `Bearer ${token}`, traceparent: bearer.traceparent })).status, 200)

  const keyedServer = await receiver.waitForSpan('the consumer\'s server span', (span) => span.traceId === keyed.traceId && span.kind === SERVER)
  t.equal(keyedServer.parentSpanId, keyed.traceparent.split('-')[2], 'an API key\'s consumer continues its trace')
  t.equal(keyedServer.attributes['vobiz_bff.consumer'], 'reader')
  const bearerServer = await receiver.waitForSpan('the JWT user\'s server span', (span) => span.traceId === bearer.traceId && span.kind === SERVER)
  t.equal(bearerServer.parentSpanId, bearer.traceparent.split('-')[2], 'so does a user with a verified token')
  t.equal(bearerServer.attributes['vobiz_bff.consumer'], 'user-2')

  // Spans are exported in the order they ended, one export after another: the anonymous ones would have come first.
  t.same(receiver.spans.filter((span) => anonymous.has(span.traceId)), [], 'nothing of the anonymous requests\' traces')
  t.same(receiver.spans.filter((span) => span.kind === SERVER).map((span) => span.traceId).sort(), [keyed.traceId, bearer.traceId].sort(), 'two server spans: the authenticated requests\'')
  t.ok(receiver.spans.some((span) => span.traceId === keyed.traceId && span.name === 'vobiz fetch'), 'the whole of the consumer\'s request is in its trace')
})

t.test('without a traceparent nothing is identified early: the guard identifies as always, and ratio 0 samples nothing', async (t) => {
  const h = await startHarness(t, { deps: { tracing } })
  const before = receiver.spans.length
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200)
  t.equal((await h.get('/profile')).status, 401)
  // A sampled request after them: once it is in, they would have been too.
  const marker = newTrace()
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile, traceparent: marker.traceparent })).status, 200)
  await until('the marker\'s server span', () => receiver.spans.some((span) => span.traceId === marker.traceId && span.kind === SERVER))
  t.same(receiver.spans.slice(before).filter((span) => span.traceId !== marker.traceId), [], 'only the sampled caller\'s trace')
})
