import Fastify from 'fastify'
import t from 'tap'
import underPressure from '@fastify/under-pressure'
import loadShedding, { shedReason } from '../../src/http/load-shedding.ts'
import problems from '../../src/http/problems.ts'
import metrics from '../../src/plugins/metrics.ts'
import { LogCapture } from '../helpers/harness.ts'
import { until } from '../helpers/time.ts'

t.test('heap shedding ends when the live heap is back under the limit, even though nothing else collected it', async (t) => {
  // The heap as V8 reports it (garbage included) and what a full collection would leave of it.
  const heap = { used: 10, live: 10, collections: 0, clock: 0 }
  const logs = new LogCapture()
  const app = Fastify({ logger: { stream: logs } })
  t.teardown(() => app.close())
  await app.register(metrics, { fleet: false, tracing: false, sink: { dropped: 0, pending: 0 } })
  await app.register(problems)
  await app.register(loadShedding, {
    maxEventLoopDelayMs: 0,
    maxHeapUsedBytes: 100,
    sampleIntervalMs: 10,
    // Collections are never held back by the recheck period here: the clock jumps past it whenever it is read.
    heap: { used: () => heap.used, collect: () => { heap.collections++; heap.used = heap.live }, now: () => (heap.clock += 60_000) }
  })
  app.get('/work', async () => 'done')
  const status = async (): Promise<number> => (await app.inject('/work')).statusCode

  t.equal(await status(), 200)
  // A burst left garbage: over the limit as reported, within it once collected. No shedding.
  heap.used = 300
  heap.live = 40
  await until('a collection', () => heap.collections > 0)
  t.equal(await status(), 200, 'garbage alone is not shed for')

  // Live data over the limit: shed, and said once.
  heap.used = 300
  heap.live = 200
  await until('shedding', async () => await status() === 503)
  const shed = await app.inject('/work')
  t.match(shed.json(), { code: 'service_unavailable' })
  t.equal(shed.headers['retry-after'], '5')
  const counted = async (): Promise<number> => (await app.metrics.registry.getSingleMetric('vobiz_bff_requests_shed_total')?.get())?.values.find((v) => v.labels.reason === 'heap')?.value ?? 0
  t.equal(await counted(), 2, 'every request shed is counted, by reason')

  // The load is gone, but V8 has not collected: the heap reported stays where it was. The next check collects.
  heap.live = 30
  await until('shedding to end', async () => await status() === 200)
  t.equal(heap.used, 30)
  const lines = logs.lines.filter((l) => l.component === 'load-shedding').map((l) => [l.msg, l.heapUsed])
  t.same(lines, [
    ['live heap over MAX_HEAP_USED_BYTES after a full collection: shedding requests with 503', 200],
    ['heap back under MAX_HEAP_USED_BYTES: no longer shedding', 30]
  ])
})

t.test('MAX_HEAP_USED_BYTES=0: no heap check at all', async (t) => {
  let reads = 0
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(metrics, { fleet: false, tracing: false, sink: { dropped: 0, pending: 0 } })
  await app.register(loadShedding, { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, sampleIntervalMs: 10, heap: { used: () => { reads++; return Infinity } } })
  app.get('/work', async () => 'done')
  t.equal((await app.inject('/work')).statusCode, 200)
  t.equal(reads, 0)
})

t.test('a request shed is counted under the check that shed it', async (t) => {
  t.equal(shedReason(underPressure.TYPE_EVENT_LOOP_DELAY), 'event_loop_delay')
  t.equal(shedReason(underPressure.TYPE_HEALTH_CHECK), 'heap', 'the live-heap check runs as under-pressure\'s health check')
})
