import t from 'tap'
import fc from 'fast-check'
import { Counter, Histogram, Registry } from 'prom-client'
import { LocalCounter, LocalHistogram } from '../../src/observability/local-metrics.ts'

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const LABELS = ['method', 'route', 'status'] as const
type Observation = [method: string, status: string, seconds: number]

const observation = fc.tuple(
  fc.constantFrom('GET', 'HEAD'),
  fc.constantFrom('200', '304', '429'),
  // Bucket bounds themselves, values between them and past the last one.
  fc.oneof(fc.constantFrom(...BUCKETS, 0, 10), fc.double({ min: 0, max: 20, noNaN: true }))
)

/** The same observations through prom-client's Histogram and through LocalHistogram: the same exposition text. */
t.test('LocalHistogram is exposed exactly as prom-client\'s Histogram', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(observation, { maxLength: 60 }), async (observations: Observation[]) => {
    const reference = new Registry()
    const local = new Registry()
    const histogram = new Histogram({ name: 'd', help: 'durations', labelNames: LABELS, buckets: BUCKETS, registers: [reference] })
    const ours = new LocalHistogram({ name: 'd', help: 'durations', labelNames: LABELS, buckets: [...BUCKETS].reverse(), registry: local })
    for (const [method, status, seconds] of observations) {
      histogram.observe({ method, route: '/profile', status }, seconds)
      ours.labels({ method, route: '/profile', status }).observe(seconds)
    }
    // Label sets are listed in order of first observation by both.
    t.equal(await local.metrics(), await reference.metrics())
    // As JSON too, but for prom-client's (empty) exemplar slots.
    const values = async (registry: Registry) => (await registry.getMetricsAsJSON())[0]?.values.map(({ labels, value, metricName }: any) => ({ labels, value, metricName }))
    t.same(await values(local), await values(reference))
  }), { numRuns: 50 })
})

t.test('LocalHistogram binds a label set once and resets to zero', async (t) => {
  const registry = new Registry()
  const ours = new LocalHistogram({ name: 'd', help: 'durations', labelNames: LABELS, buckets: BUCKETS, registry })
  const child = ours.labels({ method: 'GET', route: '/x', status: '200' })
  t.equal(ours.labels({ method: 'GET', route: '/x', status: '200' }), child)
  child.observe(0.003)
  t.match(await registry.metrics(), /d_count\{method="GET",route="\/x",status="200"\} 1/)
  registry.resetMetrics()
  t.match(await registry.metrics(), /d_count\{method="GET",route="\/x",status="200"\} 0/)
  t.match(await registry.metrics(), /d_bucket\{le="\+Inf",method="GET",route="\/x",status="200"\} 0/)
})

t.test('LocalCounter: bound children and direct increments add up in prom-client\'s counter', async (t) => {
  const registry = new Registry()
  const reference = new Registry()
  const counter = new LocalCounter({ name: 'c_total', help: 'outcomes', labelNames: ['route', 'outcome'] as const, registry })
  const plain = new Counter({ name: 'c_total', help: 'outcomes', labelNames: ['route', 'outcome'] as const, registers: [reference] })
  const hit = counter.labels({ route: '/a', outcome: 'hit' })
  t.equal(counter.labels({ route: '/a', outcome: 'hit' }), hit, 'bound once')
  t.equal(await registry.metrics(), await reference.metrics(), 'nothing counted, nothing listed')
  for (let i = 0; i < 3; i++) {
    hit.inc()
    plain.inc({ route: '/a', outcome: 'hit' })
  }
  counter.inc({ route: '/a', outcome: 'miss' })
  plain.inc({ route: '/a', outcome: 'miss' })
  // Bound children are handed over at scrape time, so series may be listed in another order.
  const lines = async (r: Registry) => (await r.metrics()).split('\n').sort()
  t.same(await lines(registry), await lines(reference))
  hit.inc()
  plain.inc({ route: '/a', outcome: 'hit' })
  t.same(await lines(registry), await lines(reference), 'each increment handed over once')
  t.match(await registry.metrics(), /c_total\{route="\/a",outcome="hit"\} 4/)
})
