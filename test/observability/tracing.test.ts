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
  // A receiver that fails is given up on within a second (OTLP exporters retry until this timeout).
  const server = await start(t, sandbox, key, receiver, { OTEL_EXPORTER_OTLP_TIMEOUT: '1000' })
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

  // A receiver that stops answering: one line when exports start failing, one when they work again, all counted.
  receiver.failing = true
  await httpGet(`${server.url}/profile`, { 'x-api-key': key })
  await server.waitFor(/"msg":"trace export failed[^"]*"/)
  receiver.failing = false
  await httpGet(`${server.url}/profile`, { 'x-api-key': key })
  await server.waitFor(/"msg":"trace export works again"/)
  const metrics = (await httpGet(`${server.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })).text
  t.ok(Number(/^vobiz_bff_trace_spans_exported_total\{result="ok"\} (\d+)$/m.exec(metrics)?.[1]) > 5, 'exported spans are counted')
  t.ok(Number(/^vobiz_bff_trace_spans_exported_total\{result="failed"\} (\d+)$/m.exec(metrics)?.[1]) > 0, 'and lost ones')
  t.equal(logLines(server).filter((line) => String(line.msg).startsWith('trace export failed')).length, 1, 'one line for the whole episode')
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

t.test('OTLP/JSON; a trace its caller did not sample is propagated, not exported; exemplars on OpenMetrics; SIGTERM flushes the last spans', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const receiver = await startOtlpReceiver(t)
  const key = generateApiKey()
  // Nothing is exported on schedule for a minute: what arrives, arrives at shutdown.
  const server = await start(t, sandbox, key, receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '60000' })

  const sampled = newIds()
  t.equal((await httpGet(`${server.url}/profile`, { 'x-api-key': key, traceparent: traceparent(sampled.traceId, sampled.parentId) })).status, 200)
  const unsampled = newIds()
  t.equal((await httpGet(`${server.url}/profile`, { 'x-api-key': key, 'cache-control': 'no-cache', traceparent: traceparent(unsampled.traceId, unsampled.parentId, '00') })).status, 200)
  const vobiz = sandbox.recorded.filter((request) => request.url.startsWith('/api/v1/partner/me'))
  t.equal(vobiz.length, 2)
  t.match(vobiz[1]?.headers.traceparent, new RegExp(`^00-${unsampled.traceId}-[0-9a-f]{16}-00$`), 'the unsampled trace still reaches Vobiz, marked unsampled')
  await until('the access lines', () => logLines(server).filter((line) => line.msg === 'request').length === 2)
  t.same(logLines(server).filter((line) => line.msg === 'request').map((line) => [line.trace_id, line.trace_flags]), [[sampled.traceId, '01'], [unsampled.traceId, '00']], 'both access lines carry their trace')

  const openMetrics = await httpGet(`${server.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}`, accept: 'application/openmetrics-text; version=1.0.0' })
  const exemplars = [...openMetrics.text.matchAll(/^http_request_duration_seconds_bucket\{[^}]*route="\/profile"[^}]*\} \d+ # \{trace_id="([0-9a-f]{32})",span_id="([0-9a-f]{16})"\} [\d.e-]+ [\d.]+$/gm)].map((match) => match[1])
  t.ok(exemplars.includes(sampled.traceId), 'the sampled request is an exemplar of its duration bucket')
  t.notOk(exemplars.includes(unsampled.traceId), 'an unsampled one never is')
  const text = await httpGet(`${server.url}/metrics`, { authorization: `Bearer ${METRICS_TOKEN}` })
  t.notMatch(text.text, /trace_id=/, 'the Prometheus text format has no exemplars')

  t.same(receiver.spans, [], 'nothing exported yet')
  server.child.kill('SIGTERM')
  t.same(await server.exited, { code: 0, signal: null }, 'a clean exit')
  t.ok(receiver.spans.some((span) => span.traceId === sampled.traceId && span.kind === SERVER), 'the last spans were flushed on the way out')
  t.ok(receiver.spans.every((span) => span.contentType.startsWith('application/json')), 'as OTLP/JSON')
  t.same(receiver.spans.filter((span) => span.traceId === unsampled.traceId), [], 'nothing of the unsampled trace')
})

t.test('tracing off (the default, or OTEL_SDK_DISABLED=true): nothing exported, no trace ids, nothing sent on to Vobiz', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const receiver = await startOtlpReceiver(t)
  const key = generateApiKey()
  const offs: Array<Record<string, string>> = [{}, { OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, { OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }]
  for (const env of offs) {
    const server = run(t, 'server.js', [], { ...serverEnv(sandbox, key), ...env })
    const [ready] = await server.waitFor(/\{[^\n]*"vobiz-partner-bff ready"[^\n]*\}/)
    const url = (JSON.parse(ready) as { url: string }).url
    t.same((JSON.parse(ready) as { features: { tracing: unknown } }).features.tracing, false, `${JSON.stringify(env)}: the ready line says tracing is off`)
    const { traceId, parentId } = newIds()
    await httpGet(`${url}/profile`, { 'x-api-key': key, 'cache-control': 'no-cache', traceparent: traceparent(traceId, parentId) })
    await until('the access line', () => logLines(server).some((line) => line.msg === 'request'))
    t.notOk(server.stdout().includes('trace_id'), 'no trace ids in the log')
    const forwarded = sandbox.recorded.findLast((request) => request.url.startsWith('/api/v1/partner/me'))
    t.equal(forwarded?.headers.traceparent, undefined, 'no traceparent to Vobiz')
    server.child.kill('SIGTERM')
    await server.exited
  }
  t.same(receiver.raw(), '', 'the receiver heard nothing')
})

t.test('with Redis: the command spans (names only), the fleet steps, and a replica waiting on another one links to its fetch', { skip: redisUnavailable() }, async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const receiver = await startOtlpReceiver(t)
  const redis = await startRedis(t, ['--requirepass', 'redis-SECRET-password-1234'])
  const key = generateApiKey()
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), REDIS_TIMEOUT_MS: '5000', CACHE_L1_TTL_MS: '0' }
  const [one, two] = await Promise.all([start(t, sandbox, key, receiver, env), start(t, sandbox, key, receiver, env)])

  sandbox.hold()
  const first = newIds()
  const firstReply = httpGet(`${one?.url ?? ''}/profile`, { 'x-api-key': key, traceparent: traceparent(first.traceId, first.parentId) })
  await sandbox.received(1)
  const second = newIds()
  const secondReply = httpGet(`${two?.url ?? ''}/profile`, { 'x-api-key': key, traceparent: traceparent(second.traceId, second.parentId) })
  // The second replica is polling Redis for the first one's result once its commands show in its trace.
  await receiver.waitForSpan('the waiting replica\'s Redis commands', (span) => span.traceId === second.traceId && span.attributes['db.system.name'] === 'redis')
  sandbox.release()
  t.same([(await firstReply).status, (await secondReply).status], [200, 200])
  t.equal(sandbox.requests, 1, 'one Vobiz fetch for both replicas')

  const holderLoad = await receiver.waitForSpan('the holder\'s load', (span) => span.traceId === first.traceId && span.name === 'profile load')
  await receiver.waitForSpan('the holder\'s fetch', (span) => span.traceId === first.traceId && span.name === 'vobiz fetch')
  t.ok(holderLoad.events.some((event) => event.name === 'fleet: lock taken, fetching for the fleet'), 'the lock holder says so')
  const waiterLoad = await receiver.waitForSpan('the waiter\'s load', (span) => span.traceId === second.traceId && span.name === 'profile load')
  t.equal(waiterLoad.attributes['vobiz_bff.load.via'], 'fleet')
  t.ok(waiterLoad.events.some((event) => event.name === 'fleet: waiting on another replica\'s fetch'), 'the waiter says so')
  t.same(waiterLoad.links.map((link) => [link.traceId, link.spanId, link.attributes['vobiz_bff.link.reason']]), [[first.traceId, holderLoad.spanId, 'waited-on-replica']], 'and links to the fetch it waited on, in the other replica')

  const commands = receiver.spans.filter((span) => span.attributes['db.system.name'] === 'redis')
  t.ok(commands.some((span) => span.name === 'eval' && span.parentSpanId === waiterLoad.spanId), 'Redis commands are children of the load')
  t.same([...new Set(commands.map((span) => span.attributes['db.query.text']))].filter((text) => typeof text !== 'string' || text.includes(' ')), [], 'the command name only, never its arguments')
  t.notOk(receiver.raw().includes('redis-SECRET-password-1234'), 'the Redis password appears in no span')
  t.notOk(receiver.raw().includes(sandbox.authToken), 'nor the Vobiz token')
})
