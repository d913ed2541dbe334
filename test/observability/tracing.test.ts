import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts'
import { run, serverEnv, type Running } from '../helpers/processes.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { until } from '../helpers/time.ts'

// The built server with tracing on, exporting to a real OTLP/HTTP receiver started here; the sandbox records
// what reaches "Vobiz". Nothing here depends on timing: spans are waited for, and every assertion is about
// what a trace contains.

const SERVER = 2
const CLIENT = 3
const METRICS_TOKEN = 'tracing-test-metrics-token'

interface Traced extends Running { url: string }

async function start (t: Test, sandbox: Sandbox, key: string, receiver: OtlpReceiver, env: Record<string, string> = {}): Promise<Traced> {
  const server = run(t, 'server.js', [], {
    ...serverEnv(sandbox, key),
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    // Exported within a tenth of a second, so the test waits little.
    OTEL_BSP_SCHEDULE_DELAY: '100',
    METRICS_TOKEN,
    ...env
  })
  const [, url] = await server.waitFor(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/)
  return { ...server, url: url as string }
}

const traceparent = (traceId: string, parentId: string, flags = '01'): string => `00-${traceId}-${parentId}-${flags}`
const newIds = (): { traceId: string, parentId: string } => ({ traceId: randomBytes(16).toString('hex'), parentId: randomBytes(8).toString('hex') })

function inTrace (receiver: OtlpReceiver, traceId: string): ReceivedSpan[] {
  return receiver.spans.filter((span) => span.traceId === traceId)
}

function child (spans: ReceivedSpan[], parent: ReceivedSpan | undefined, name: string): ReceivedSpan | undefined {
  return spans.find((span) => span.parentSpanId === parent?.spanId && span.name === name)
}

/** JSON log lines on the server's stdout. */
function logLines (server: Running): Array<Record<string, unknown>> {
  return server.stdout().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>)
}

t.test('a consumer request with a traceparent: server, cache, load, fetch, attempt and HTTP client spans in its trace, and Vobiz gets the trace', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const receiver = await startOtlpReceiver(t)
  const key = generateApiKey()
  const server = await start(t, sandbox, key, receiver)
  const { traceId, parentId } = newIds()

  const reply = await httpGet(`${server.url}/profile`, { 'x-api-key': key, traceparent: traceparent(traceId, parentId), tracestate: 'vendor=abc' })
  t.equal(reply.status, 200)
  await receiver.waitForSpan('the server span', (span) => span.traceId === traceId && span.kind === SERVER)
  await receiver.waitForSpan('the HTTP client span', (span) => span.traceId === traceId && span.kind === CLIENT)
  const spans = inTrace(receiver, traceId)

  const serverSpan = spans.find((span) => span.kind === SERVER)
  t.equal(serverSpan?.parentSpanId, parentId, 'the server span continues the caller\'s trace')
  t.equal(serverSpan?.name, 'GET /profile')
  t.equal(serverSpan?.attributes['http.route'], '/profile')
  t.equal(serverSpan?.attributes['http.response.status_code'], 200)
  t.equal(serverSpan?.attributes['vobiz_bff.consumer'], 'svc', 'the consumer\'s name')
  t.equal(serverSpan?.resource['service.name'], 'vobiz-partner-bff', 'the service name defaults to the package name')

  const cache = child(spans, serverSpan, 'profile cache')
  t.equal(cache?.attributes['vobiz_bff.cache.outcome'], 'miss', 'the cache outcome')
  t.equal(cache?.attributes['vobiz_bff.view'], 'profile')
  t.type(cache?.attributes['vobiz_bff.cache.age_seconds'], 'number')
  t.type(cache?.attributes['vobiz_bff.cache.ttl_seconds'], 'number')
  const load = child(spans, cache, 'profile load')
  t.equal(load?.attributes['vobiz_bff.load.via'], 'upstream')
  const fetch = child(spans, load, 'vobiz fetch')
  t.equal(fetch?.attributes['vobiz_bff.upstream.attempts'], 1)
  const attempt = child(spans, fetch, 'vobiz attempt')
  t.equal(attempt?.attributes['http.request.resend_count'], 0)
  t.equal(attempt?.attributes['http.response.status_code'], 200)
  const http = spans.find((span) => span.kind === CLIENT && span.parentSpanId === attempt?.spanId)
  t.ok(http, 'undici\'s client span is the attempt\'s child')

  const vobizRequest = sandbox.recorded.findLast((request) => request.url.startsWith('/api/v1/partner/me'))
  t.equal(vobizRequest?.headers.traceparent, traceparent(traceId, http?.spanId ?? '?'), 'the Vobiz request carries the trace, parented on its client span')
  t.equal(vobizRequest?.headers.tracestate, 'vendor=abc', 'tracestate is passed on')
  t.ok(vobizRequest?.headers['x-request-id'], 'the request id header stays')

  // Log lines inside the traced request carry its ids.
  await until('the access line', () => logLines(server).some((line) => line.msg === 'request' && line.trace_id === traceId))
  const access = logLines(server).find((line) => line.msg === 'request' && line.trace_id === traceId)
  t.equal(access?.span_id, serverSpan?.spanId, 'the access line names the server span')
  const fetchLine = logLines(server).find((line) => line.msg === 'vobiz fetch')
  t.equal(fetchLine?.trace_id, traceId, 'the Vobiz fetch line is in the trace too')

  // A hit: the cache span says so, and nothing went to Vobiz.
  const second = newIds()
  await httpGet(`${server.url}/profile`, { 'x-api-key': key, traceparent: traceparent(second.traceId, second.parentId) })
  const hitCache = await receiver.waitForSpan('the hit\'s cache span', (span) => span.traceId === second.traceId && span.name === 'profile cache')
  t.equal(hitCache.attributes['vobiz_bff.cache.outcome'], 'hit')
  t.ok((hitCache.attributes['vobiz_bff.cache.ttl_seconds'] as number) > 0, 'fresh for a while yet')
  await receiver.waitForSpan('the hit\'s server span', (span) => span.traceId === second.traceId && span.kind === SERVER)
  t.same(inTrace(receiver, second.traceId).filter((span) => span.name === 'vobiz fetch'), [], 'no fetch')
})

t.test('retries are attempt spans, with the backoff as an event; requests that waited on the fetch link to its load span', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const receiver = await startOtlpReceiver(t)
  const key = generateApiKey()
  const server = await start(t, sandbox, key, receiver)

  sandbox.inject({ kind: 'status', status: 503 }, 1)
  const first = newIds()
  t.equal((await httpGet(`${server.url}/profile/balance`, { 'x-api-key': key, traceparent: traceparent(first.traceId, first.parentId) })).status, 200, 'served after one retry')
  const fetch = await receiver.waitForSpan('the fetch span', (span) => span.traceId === first.traceId && span.name === 'vobiz fetch')
  await until('both attempts', () => inTrace(receiver, first.traceId).filter((span) => span.name === 'vobiz attempt').length === 2)
  const attempts = inTrace(receiver, first.traceId).filter((span) => span.name === 'vobiz attempt' && span.parentSpanId === fetch.spanId)
    .sort((a, b) => (a.attributes['vobiz_bff.upstream.attempt'] as number) - (b.attributes['vobiz_bff.upstream.attempt'] as number))
  t.same(attempts.map((span) => [span.attributes['vobiz_bff.upstream.attempt'], span.attributes['http.request.resend_count'], span.attributes['http.response.status_code'], span.status.code]),
    [[1, 0, 503, 2], [2, 1, 200, 0]], 'attempt 1 failed with 503, attempt 2 (the first resend) succeeded')
  t.equal(attempts[0]?.attributes['error.type'], 'upstream_unavailable', 'the failure is named by its code')
  t.equal(fetch.attributes['vobiz_bff.upstream.attempts'], 2)
  const backoff = fetch.events.find((event) => event.name === 'backoff')
  t.type(backoff?.attributes['vobiz_bff.backoff_ms'], 'number', 'the backoff is an event on the fetch')
  t.equal(backoff?.attributes['vobiz_bff.after'], 'upstream_unavailable')

  // Several requests while one fetch is held at "Vobiz": one load span; the others link to it or, had they
  // come after it ended, were hits. Which request starts the load is theirs to race for.
  sandbox.hold()
  const waiters = Array.from({ length: 4 }, newIds)
  const answers = waiters.map(async (ids) => await httpGet(`${server.url}/profile`, { 'x-api-key': key, 'cache-control': 'no-cache', traceparent: traceparent(ids.traceId, ids.parentId) }))
  await sandbox.received(3)
  sandbox.release()
  t.same((await Promise.all(answers)).map((reply) => reply.status), [200, 200, 200, 200])
  await until('every cache span', () => waiters.every((ids) => inTrace(receiver, ids.traceId).some((span) => span.name === 'profile cache')))
  const loads = receiver.spans.filter((span) => span.name === 'profile load' && waiters.some((ids) => ids.traceId === span.traceId))
  for (const ids of waiters) {
    const cache = inTrace(receiver, ids.traceId).find((span) => span.name === 'profile cache') as ReceivedSpan
    const own = loads.find((load) => load.parentSpanId === cache.spanId)
    const linked = cache.links.filter((link) => loads.some((load) => load.spanId === link.spanId && load.traceId === link.traceId))
    t.ok(own !== undefined || linked.length > 0, `${cache.attributes['vobiz_bff.cache.outcome'] as string}: started a load or links to the one it waited on`)
    for (const link of cache.links) t.equal(link.attributes['vobiz_bff.link.reason'], 'waited-on-load')
    if (own === undefined) t.equal(cache.attributes['vobiz_bff.cache.outcome'], 'collapsed', 'a request that joined a load says so')
  }
  t.equal(new Set(loads.map((load) => load.spanId)).size, loads.length, 'each load is one span')
  t.comment(`${loads.length} loads for ${waiters.length} requests`)
})
