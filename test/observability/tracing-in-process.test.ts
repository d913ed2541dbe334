import t from 'tap'
import { startTracing } from '../../src/observability/tracing.ts'
import { httpGet, startHarness } from '../helpers/harness.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { startOtlpReceiver, testTracing } from '../helpers/otlp-receiver.ts'
import { until } from '../helpers/time.ts'

// In-process, where the harness knows when requests have reached the cache and moves the clock. The SDK is
// this test process's own (one per test file), exporting to a real OTLP receiver.

// One SDK per process (its tracer provider is the process's), so one for the whole file.
const receiver = await startOtlpReceiver(t)
const tracing = await startTracing(testTracing(`${receiver.url}/v1/traces`, { serviceName: 'in-process-test', resourceAttributes: 'deployment.environment.name=test' }))
t.teardown(async () => { await tracing.shutdown() })

t.test('every request that waited on a fetch in flight links to that fetch\'s load span', async (t) => {
  const h = await startHarness(t, { deps: { tracing } })

  h.sandbox.hold()
  const count = 5
  const answers = Array.from({ length: count }, async () => await h.get('/profile', { 'x-api-key': h.keys.profile }))
  // Each request has run up to the cache (synchronously, for API keys) once Node has emitted it.
  await h.arrived(count)
  await h.sandbox.received(1)
  h.sandbox.release()
  t.same((await Promise.all(answers)).map((reply) => reply.status), Array(count).fill(200))
  await until('every cache span', () => receiver.spans.filter((span) => span.name === 'profile cache').length === count)
  await receiver.waitForSpan('the load span', (span) => span.name === 'profile load')

  const loads = receiver.spans.filter((span) => span.name === 'profile load')
  t.equal(loads.length, 1, 'one load for all of them')
  const load = loads[0]
  const caches = receiver.spans.filter((span) => span.name === 'profile cache')
  const leader = caches.filter((span) => span.spanId === load?.parentSpanId)
  t.equal(leader.length, 1, 'the request that started it is its parent')
  t.equal(leader[0]?.attributes['vobiz_bff.cache.outcome'], 'miss')
  const waiters = caches.filter((span) => span !== leader[0])
  t.equal(waiters.length, count - 1)
  for (const waiter of waiters) {
    t.equal(waiter.attributes['vobiz_bff.cache.outcome'], 'collapsed')
    t.same(waiter.links.map((link) => [link.traceId, link.spanId, link.attributes['vobiz_bff.link.reason']]), [[load?.traceId, load?.spanId, 'waited-on-load']], 'links to the load it waited on')
    t.not(waiter.traceId, load?.traceId, 'each request is its own trace')
  }
  t.equal(load?.resource['service.name'], 'in-process-test', 'OTEL_SERVICE_NAME')
  t.equal(load?.resource['deployment.environment.name'], 'test', 'OTEL_RESOURCE_ATTRIBUTES')
})

t.test('the breaker\'s and the cool-down\'s decisions are events on the fetch span', async (t) => {
  const h = await startHarness(t, { deps: { tracing }, env: { BREAKER_FAILURE_THRESHOLD: '1', BREAKER_OPEN_SECONDS: '10', UPSTREAM_RETRIES: '0' } })
  // Each forced refresh is one fetch (answered from the stale copy, or with a problem, when it fails).
  const fetchEvents = async (): Promise<string[]> => {
    const before = receiver.spans.filter((span) => span.name === 'vobiz fetch').length
    await h.get('/profile/balance', { 'x-api-key': h.keys.balance, 'cache-control': 'no-cache' })
    await until('the fetch span', () => receiver.spans.filter((span) => span.name === 'vobiz fetch').length > before)
    return receiver.spans.filter((span) => span.name === 'vobiz fetch')[before]?.events.map((event) => event.name) ?? []
  }

  h.sandbox.inject({ kind: 'status', status: 500 }, 1)
  t.same(await fetchEvents(), ['breaker open'], 'the failure that opens the breaker')
  t.same(await fetchEvents(), ['refused: breaker-open'], 'refused while it is open, nothing sent')
  h.clock.advance(10_000)
  t.same(await fetchEvents(), ['breaker half-open', 'breaker closed'], 'the probe that closes it')
  h.sandbox.inject({ kind: 'status', status: 429, headers: { 'retry-after': '30' } }, 1)
  await fetchEvents()
  t.same(await fetchEvents(), ['refused: cooling-down'], 'held off after a 429')
})

t.test('a hit is a cache span too; the consumer is named on the server span; a failing receiver is logged once, and its recovery', async (t) => {
  // With the OTEL variables set, the app's log lines carry the trace too (the SDK itself is this file's).
  const h = await startHarness(t, { deps: { tracing }, env: { METRICS_TOKEN: 'in-process-metrics-token', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } })
  await httpGet(`${h.url}/health/live`)
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  const fetchLine = h.logs.find((line) => line.msg === 'vobiz fetch')
  t.match(fetchLine, { trace_id: /^[0-9a-f]{32}$/, span_id: /^[0-9a-f]{16}$/, trace_flags: '01' }, 'a line inside a traced request carries its ids')
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  const hit = await receiver.waitForSpan('the hit', (span) => span.name === 'profile cache' && span.attributes['vobiz_bff.view'] === 'profile' && span.attributes['vobiz_bff.cache.outcome'] === 'hit')
  t.equal(hit.attributes['vobiz_bff.cache.ttl_seconds'], 30, 'fresh for the whole ttl: the clock has not moved')
  const server = await receiver.waitForSpan('its server span', (span) => span.spanId === hit.parentSpanId)
  t.equal(server.attributes['vobiz_bff.consumer'], 'reader')
  t.equal(server.name, 'GET /profile')

  receiver.failing = true
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await until('the failure line', () => h.logs.some((line) => String(line.msg).startsWith('trace export failed')))
  receiver.failing = false
  await h.get('/profile', { 'x-api-key': h.keys.profile })
  await until('the recovery line', () => h.logs.some((line) => line.msg === 'trace export works again'))
  const metrics = (await httpGet(`${h.url}/metrics`, { authorization: 'Bearer in-process-metrics-token' })).text
  t.match(metrics, /^vobiz_bff_trace_spans_exported_total\{result="failed"\} [1-9]/m)
  t.notOk(receiver.spans.some((span) => span.attributes['url.path'] === '/health/live'), 'probes are not traced')
  await httpGet(`${h.url}/nope?q=1`)
  const unrouted = await receiver.waitForSpan('the 404\'s server span', (span) => span.attributes['url.path'] === '/nope')
  t.equal(unrouted.name, 'GET', 'a request no route matched is named by its method alone')
  t.equal(unrouted.attributes['http.response.status_code'], 404)
})

t.test('fleet: a replica that waits on another one\'s fetch links to its load span', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis(t)
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), REDIS_TIMEOUT_MS: '5000', CACHE_L1_TTL_MS: '0' }
  const one = await startHarness(t, { deps: { tracing }, env })
  const two = await startHarness(t, { deps: { tracing }, env, replicaOf: one })
  const evals = async (): Promise<number> => Number(/cmdstat_eval:calls=(\d+)/.exec(await redis.client.info('commandstats'))?.[1] ?? 0)

  one.sandbox.hold()
  const first = one.get('/profile', { 'x-api-key': one.keys.profile })
  await one.sandbox.received(1)
  const before = await evals()
  const second = two.get('/profile', { 'x-api-key': two.keys.profile })
  // The lock holder sends no command while its fetch is held: two more are the waiter reading, twice.
  await until('the second replica to poll', async () => await evals() >= before + 2)
  one.sandbox.release()
  t.same([(await first).status, (await second).status], [200, 200])
  await until('both loads', () => receiver.spans.filter((span) => span.name === 'profile load' && span.attributes['vobiz_bff.load.via'] !== undefined && span.events.some((event) => event.name.startsWith('fleet:'))).length >= 2)
  const loads = receiver.spans.filter((span) => span.name === 'profile load' && span.events.some((event) => event.name.startsWith('fleet:')))
  const holder = loads.find((span) => span.attributes['vobiz_bff.load.via'] === 'upstream')
  const waiter = loads.find((span) => span.attributes['vobiz_bff.load.via'] === 'fleet')
  t.same(holder?.events.map((event) => event.name), ['fleet: lock taken, fetching for the fleet'])
  t.same(waiter?.events.map((event) => event.name), ['fleet: waiting on another replica\'s fetch'])
  t.same(waiter?.links.map((link) => [link.traceId, link.spanId, link.attributes['vobiz_bff.link.reason']]), [[holder?.traceId, holder?.spanId, 'waited-on-replica']])

  // Without Redis, the load says it went on alone.
  await redis.kill()
  t.equal((await one.get('/profile', { 'x-api-key': one.keys.profile, 'cache-control': 'no-cache' })).status, 200)
  await receiver.waitForSpan('the local load', (span) => span.name === 'profile load' && span.events.some((event) => event.name === 'fleet: redis unusable, loading locally'))
})
