import t from 'tap'
import { startTracing } from '../../src/observability/tracing.ts'
import { startHarness } from '../helpers/harness.ts'
import { startOtlpReceiver } from '../helpers/otlp-receiver.ts'
import { until } from '../helpers/time.ts'

// In-process, where the harness knows when requests have reached the cache: requests that wait on another
// request's fetch link to its load span. The SDK is this test process's own (one per test file).

// Exported within a tenth of a second (read by the SDK's batch processor when it starts).
process.env.OTEL_BSP_SCHEDULE_DELAY = '100'

t.test('every request that waited on a fetch in flight links to that fetch\'s load span', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const tracing = await startTracing({ url: `${receiver.url}/v1/traces`, protocol: 'http/protobuf', serviceName: 'links-test', resourceAttributes: 'deployment.environment.name=test', sampler: 'always_on', samplerRatio: 1, redis: false })
  t.teardown(async () => { await tracing.shutdown() })
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
  t.equal(load?.resource['service.name'], 'links-test', 'OTEL_SERVICE_NAME')
  t.equal(load?.resource['deployment.environment.name'], 'test', 'OTEL_RESOURCE_ATTRIBUTES')
})
