import t from 'tap'
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node'
import { ExportResultCode, type ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { SpanBudget } from '../../src/observability/span-budget.ts'
import { GuardedExporter, otlpExporter, prepare, resourceAttributes, samplerOf } from '../../src/observability/tracing-sdk.ts'

// The SDK's pieces that decide something, without starting it (it is the process's; see tracing-in-process.test.ts).

t.test('OTEL_TRACES_SAMPLER names the OpenTelemetry samplers', async (t) => {
  const named = (sampler: Parameters<typeof samplerOf>[0]['sampler']): string => samplerOf({ sampler, samplerRatio: 0.25 }).toString()
  t.match(named('parentbased_always_on'), /^ParentBased\{root=AlwaysOnSampler/)
  t.match(named('parentbased_always_off'), /^ParentBased\{root=AlwaysOffSampler/)
  t.match(named('parentbased_traceidratio'), /^ParentBased\{root=TraceIdRatioBased\{0\.25\}/)
  t.equal(named('always_on'), 'AlwaysOnSampler')
  t.equal(named('always_off'), 'AlwaysOffSampler')
  t.equal(named('traceidratio'), 'TraceIdRatioBased{0.25}')
})

t.test('OTEL_RESOURCE_ATTRIBUTES: key=value pairs, values URL-encoded, malformed pairs skipped', async (t) => {
  t.same(resourceAttributes('deployment.environment.name=prod, service.namespace=billing%20team,=nokey,novalue,bad=%zz'), {
    'deployment.environment.name': 'prod',
    'service.namespace': 'billing team',
    bad: '%zz'
  })
  t.same(resourceAttributes(undefined), {})
})

t.test('before export: every text scrubbed; a server span answered 4xx keeps an unset status, a 5xx its error', async (t) => {
  const scrub = (text: string): string => text.replaceAll('SECRET', '[redacted]')
  const span = (kind: SpanKind, status: number, message?: string) => ({
    name: 'GET SECRET',
    kind,
    attributes: { 'http.response.status_code': status, 'url.path': '/p/SECRET', list: ['a SECRET', 1] },
    events: [{ name: 'e', attributes: { detail: 'SECRET' } }, { name: 'bare' }],
    links: [{ context: {}, attributes: { why: 'SECRET' } }, { context: {} }],
    status: message === undefined ? { code: SpanStatusCode.ERROR } : { code: SpanStatusCode.ERROR, message }
  }) as unknown as ReadableSpan

  const client = span(SpanKind.SERVER, 401, 'The key SECRET is wrong')
  prepare(client, scrub)
  t.same(client.status, { code: SpanStatusCode.UNSET }, 'a client error is not the server\'s error')
  t.equal(client.name, 'GET [redacted]')
  t.same(client.attributes, { 'http.response.status_code': 401, 'url.path': '/p/[redacted]', list: ['a [redacted]', 1] })
  t.same(client.events[0]?.attributes, { detail: '[redacted]' })
  t.same(client.links[0]?.attributes, { why: '[redacted]' })

  const failed = span(SpanKind.SERVER, 502, 'upstream said SECRET')
  prepare(failed, scrub)
  t.same(failed.status, { code: SpanStatusCode.ERROR, message: 'upstream said [redacted]' })
  const internal = span(SpanKind.INTERNAL, 200)
  prepare(internal, scrub)
  t.same(internal.status, { code: SpanStatusCode.ERROR }, 'other spans keep their status')
})

t.test('the exporter for the protocol, behind the step that scrubs and counts', async (t) => {
  const bounds = { timeoutMillis: 1000, batch: { maxQueueSize: 8, maxExportBatchSize: 4, scheduledDelayMillis: 100, exportTimeoutMillis: 1000 } }
  t.type(otlpExporter({ protocol: 'http/protobuf', url: 'http://127.0.0.1:1/v1/traces', ...bounds }), OtlpProtobufExporter)
  t.type(otlpExporter({ protocol: 'http/json', url: 'http://127.0.0.1:1/v1/traces', ...bounds }), OtlpJsonExporter)

  const results: ExportResult[] = [{ code: ExportResultCode.SUCCESS }, { code: ExportResultCode.FAILED }]
  const sent: string[] = []
  const inner = {
    export: (spans: ReadableSpan[], done: (result: ExportResult) => void) => { sent.push(...spans.map((span) => span.name)); done(results.shift() as ExportResult) },
    shutdown: async () => {}
  }
  const budget = new SpanBudget(8)
  for (let i = 0; i < 3; i++) budget.take()
  const guarded = new GuardedExporter(inner, budget)
  const span = () => ({ name: 'a SECRET', kind: SpanKind.INTERNAL, attributes: {}, events: [], links: [], status: { code: SpanStatusCode.UNSET } }) as unknown as ReadableSpan
  const done: number[] = []
  guarded.export([span()], (result) => done.push(result.code))
  t.same(sent, ['a SECRET'], 'until the app sets its filter, spans pass as they are (none is made before it does)')
  const counted: Array<[string, number]> = []
  guarded.scrub = (text) => text.replace('SECRET', '[redacted]')
  guarded.listener = (ok, spans) => counted.push([ok, spans])
  guarded.export([span(), span()], (result) => done.push(result.code))
  t.same(sent, ['a SECRET', 'a [redacted]', 'a [redacted]'])
  t.same(counted, [['failed', 2]], 'a failed export is counted, with its spans')
  t.equal(budget.held, 0, 'the spans of every settled export are no longer held')
  t.same(done, [ExportResultCode.SUCCESS, ExportResultCode.FAILED], 'and reported to the SDK as it was')
  await guarded.shutdown()
})
