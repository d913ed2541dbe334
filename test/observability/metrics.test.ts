import t from 'tap'
import { Metrics } from '../../src/observability/metrics.ts'

t.test('a scrape before the components attach their state reports them idle; after watch(), their state', async (t) => {
  const metrics = new Metrics({ fleet: true })
  const before = await metrics.registry.metrics()
  t.match(before, /^vobiz_bff_breaker_state 0$/m)
  t.match(before, /^vobiz_bff_redis_up 0$/m)
  t.match(before, /^vobiz_bff_log_lines_dropped_total 0$/m)
  t.match(before, /^vobiz_bff_log_buffer_bytes 0$/m)
  metrics.watch({ upstream: () => ({ breaker: 'half-open' }), redis: () => 'connected' })
  metrics.watch({ logLinesDropped: () => 7, logBufferBytes: () => 512 })
  const after = await metrics.registry.metrics()
  t.match(after, /^vobiz_bff_breaker_state 1$/m)
  t.match(after, /^vobiz_bff_redis_up 1$/m)
  t.match(after, /^vobiz_bff_log_lines_dropped_total 7$/m)
  t.match(after, /^vobiz_bff_log_buffer_bytes 512$/m)
})
