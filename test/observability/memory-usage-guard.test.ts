import t from 'tap'
import { guardMemoryUsage } from '../../src/observability/memory-usage-guard.ts'

t.test('a memory sample that fails (EMFILE) returns the last good one, logged once per change of state', async (t) => {
  const original = process.memoryUsage
  t.teardown(() => { process.memoryUsage = original })
  let failing = false
  const sample = { rss: 1, heapTotal: 2, heapUsed: 3, external: 4, arrayBuffers: 5 }
  process.memoryUsage = Object.assign(() => {
    if (failing) throw Object.assign(new Error('EMFILE: too many open files, uv_resident_set_memory'), { code: 'EMFILE' })
    return sample
  }, { rss: () => sample.rss }) as typeof process.memoryUsage
  const logged: string[] = []
  const log = { error: (_fields: unknown, msg: string) => { logged.push(msg) }, info: (msg: string) => { logged.push(msg) } }
  guardMemoryUsage(log as never)
  guardMemoryUsage(log as never)

  t.same(process.memoryUsage(), sample)
  failing = true
  t.same(process.memoryUsage(), sample, 'the last good sample')
  t.equal(process.memoryUsage.rss(), 1)
  failing = false
  t.same(process.memoryUsage(), sample)
  t.same(logged, [
    'memory sampling failed (out of file descriptors?): using the last sample until it works again',
    'memory sampling works again'
  ], 'one line each way, however many samples; guarding twice wraps once')
})
