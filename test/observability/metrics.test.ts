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

t.test('with tracing on: spans held read 0 until tracing attaches its count, then the count', async (t) => {
  const metrics = new Metrics({ fleet: false, tracing: true })
  t.match(await metrics.registry.metrics(), /^vobiz_bff_trace_spans_held 0$/m)
  metrics.watch({ traceSpansHeld: () => 42 })
  t.match(await metrics.registry.metrics(), /^vobiz_bff_trace_spans_held 42$/m)
  t.notMatch(await new Metrics({ fleet: false }).registry.metrics(), /vobiz_bff_trace_spans_held/, 'and no such metric with tracing off')
})

t.test('the business metrics: absent before the first fetch, then from the profile served now', async (t) => {
  const metrics = new Metrics({ fleet: false })
  const now: { facts?: { balance: number, currency?: string, status?: string, fetchedAt: number, ageMs: number }, lastSuccessAt?: number } = {}
  metrics.watch({ profile: () => now.facts, lastSuccessAt: () => now.lastSuccessAt })
  const before = await metrics.registry.metrics()
  t.notMatch(before, /^vobiz_partner_balance\{/m)
  t.notMatch(before, /^vobiz_partner_info\{/m)
  t.notMatch(before, /^vobiz_bff_profile_age_seconds /m)
  t.notMatch(before, /^vobiz_bff_upstream_last_success_timestamp_seconds /m)
  now.facts = { balance: 120.5, status: 'active', fetchedAt: 1_700_000_000_000, ageMs: 2500 }
  const shared = await metrics.registry.metrics()
  t.match(shared, /^vobiz_partner_balance\{currency=""\} 120\.5$/m, 'no currency from Vobiz: an empty label')
  t.match(shared, /^vobiz_partner_info\{status="active",gst_status="",account_type=""\} 1$/m)
  t.match(shared, /^vobiz_bff_profile_age_seconds 2\.5$/m)
  t.match(shared, /^vobiz_bff_upstream_last_success_timestamp_seconds 1700000000$/m, 'fetched by another replica')
  now.facts = { balance: 0, fetchedAt: 1_700_000_000_000, ageMs: 0 }
  t.match(await metrics.registry.metrics(), /^vobiz_partner_info\{status="",gst_status="",account_type=""\} 1$/m, 'facts Vobiz did not send: empty labels')
  now.lastSuccessAt = 1_700_000_001_000
  t.match(await metrics.registry.metrics(), /^vobiz_bff_upstream_last_success_timestamp_seconds 1700000001$/m, 'or this one, later')
})
