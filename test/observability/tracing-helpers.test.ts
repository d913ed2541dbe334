import t from 'tap'
import { TraceFlags, type Span, type SpanContext } from '@opentelemetry/api'
import { errorType, exemplarOf, formatSpanContext, parseSpanContext, traceFields } from '../../src/observability/tracing.ts'

const context: SpanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED }
const spanOf = (spanContext: SpanContext): Span => ({ spanContext: () => spanContext }) as unknown as Span

t.test('a span context travels between replicas as text, and only a valid one comes back', async (t) => {
  const text = formatSpanContext(context)
  t.equal(text, '0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
  t.same(parseSpanContext(text as string), { ...context, isRemote: true })
  t.equal(formatSpanContext(undefined), undefined)
  t.equal(formatSpanContext({ ...context, traceId: '0'.repeat(32) }), undefined, 'an invalid context is not written')
  for (const bad of ['', 'x', '0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331', `${'0'.repeat(32)}-b7ad6b7169203331-01`, '0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01', `${text as string}-extra`]) {
    t.equal(parseSpanContext(bad), undefined, `refused: ${JSON.stringify(bad)}`)
  }
})

t.test('log fields and exemplars: ids of valid spans; exemplars of sampled ones only', async (t) => {
  t.same(traceFields(spanOf(context)), { trace_id: context.traceId, span_id: context.spanId, trace_flags: '01' })
  t.same(traceFields(spanOf({ ...context, traceFlags: TraceFlags.NONE })), { trace_id: context.traceId, span_id: context.spanId, trace_flags: '00' }, 'an unsampled trace is still correlated in the log')
  t.equal(traceFields(undefined), undefined)
  t.equal(traceFields(spanOf({ ...context, spanId: '0'.repeat(16) })), undefined)
  t.same(exemplarOf(spanOf(context)), { trace_id: context.traceId, span_id: context.spanId })
  t.equal(exemplarOf(spanOf({ ...context, traceFlags: TraceFlags.NONE })), undefined, 'an unsampled trace cannot be looked up: no exemplar')
  t.equal(exemplarOf(undefined), undefined)
})

t.test('an error is named on a span by its code or class, never its message', async (t) => {
  t.equal(errorType(Object.assign(new Error('token abc leaked'), { code: 'upstream_timeout' })), 'upstream_timeout')
  t.equal(errorType(new TypeError('token abc leaked')), 'TypeError')
  t.equal(errorType('a string'), 'Error')
  t.equal(errorType(null), 'Error')
})
