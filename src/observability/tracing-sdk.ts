import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { register } from 'node:module'
import { unescape } from 'node:querystring'
import { context as otelContext, SamplingDecision, SpanKind, SpanStatusCode, type Attributes, type Context, type Link } from '@opentelemetry/api'
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { OTLPTraceExporter as OtlpProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation'
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, NodeTracerProvider, ParentBasedSampler, TraceIdRatioBasedSampler,
  type ReadableSpan, type Sampler, type SamplingResult, type SpanExporter, type SpanProcessor
} from '@opentelemetry/sdk-trace-node'
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions/incubating'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { ATTR, distrustedCaller, setRequestSpan, type ExportOutcome, type Tracing, type TracingSettings } from './tracing.ts'
import { describeServerSpan } from './server-span.ts'
import { BudgetedSpanProcessor, SpanBudget } from './span-budget.ts'

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }

/** Requests that are not traced: probes and scrapes (every few seconds, and of no interest in a trace). */
const UNTRACED = /^\/(?:health|metrics|docs)(?:[/?]|$)/

/**
 * @fastify/otel marks the spans it makes for hooks and handlers with this attribute. The service asks for none
 * (`instrumentHooks`, `instrumentHandler`), yet the not-found handler gets one regardless, named after the
 * plugin chain (`notFoundHandler - fastify -> metrics -> tracing -> …`): it is never recorded.
 */
const FASTIFY_HOOK_ATTRIBUTE = 'fastify.type'

/** A sampler that records no @fastify/otel hook span, and leaves every other decision to `inner`. */
export class WithoutHookSpans implements Sampler {
  readonly #inner: Sampler

  constructor (inner: Sampler) {
    this.#inner = inner
  }

  shouldSample (context: Context, traceId: string, name: string, kind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
    if (attributes[FASTIFY_HOOK_ATTRIBUTE] !== undefined) return { decision: SamplingDecision.NOT_RECORD }
    return this.#inner.shouldSample(context, traceId, name, kind, attributes, links)
  }

  toString (): string {
    return this.#inner.toString()
  }
}

/** The sampler OTEL_TRACES_SAMPLER names (the OpenTelemetry environment names). */
export function samplerOf ({ sampler, samplerRatio }: Pick<TracingSettings, 'sampler' | 'samplerRatio'>): Sampler {
  const [parentBased, root] = sampler.startsWith('parentbased_') ? [true, sampler.slice('parentbased_'.length)] : [false, sampler]
  const rootSampler = root === 'always_on' ? new AlwaysOnSampler() : root === 'always_off' ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(samplerRatio)
  return new WithoutHookSpans(parentBased ? new ParentBasedSampler({ root: rootSampler }) : rootSampler)
}

/** OTEL_RESOURCE_ATTRIBUTES: `key=value` pairs, comma-separated, values URL-encoded; malformed pairs are skipped. */
export function resourceAttributes (text: string | undefined): Attributes {
  const attributes: Attributes = {}
  for (const pair of (text ?? '').split(',')) {
    const at = pair.indexOf('=')
    if (at > 0) attributes[pair.slice(0, at).trim()] = unescape(pair.slice(at + 1).trim())
  }
  return attributes
}

type Writable<T> = { -readonly [K in keyof T]: T[K] }

/**
 * The last step before a span leaves the process: every text in it (name, attribute and event values, status
 * message) goes through the secret filter, as every log line does. And the server span of a request answered
 * 4xx keeps an unset status, as the HTTP semantic conventions say (@fastify/otel marks any thrown error); one
 * answered 5xx has `error.type`, the status code as text (Conditionally Required), unless a cause was named.
 */
export function prepare (span: ReadableSpan, scrub: (text: string) => string): void {
  const s = span as Writable<ReadableSpan>
  s.name = scrub(s.name)
  scrubAttributes(s.attributes, scrub)
  for (const event of s.events) if (event.attributes !== undefined) scrubAttributes(event.attributes, scrub)
  for (const link of s.links) if (link.attributes !== undefined) scrubAttributes(link.attributes, scrub)
  const status = s.attributes['http.response.status_code']
  if (s.kind === SpanKind.SERVER && typeof status === 'number' && status < 500) {
    s.status = { code: SpanStatusCode.UNSET }
    return
  }
  if (s.kind === SpanKind.SERVER && typeof status === 'number') s.attributes[ATTR.errorType] ??= String(status)
  if (s.status.message !== undefined) {
    s.status = { ...s.status, message: scrub(s.status.message) }
  }
}

function scrubAttributes (attributes: Attributes, scrub: (text: string) => string): void {
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value === 'string') attributes[key] = scrub(value)
    else if (Array.isArray(value)) attributes[key] = value.map((item) => typeof item === 'string' ? scrub(item) : item) as typeof value
  }
}

/**
 * The OTLP exporter behind the scrubbing step, telling its listener how every export went, and releasing the
 * spans of each export from the budget once it has settled. The app sets the filter and the listener
 * (src/plugins/tracing.ts) before it serves its first request.
 */
export class GuardedExporter implements SpanExporter {
  readonly #inner: SpanExporter
  readonly #budget: SpanBudget
  scrub: (text: string) => string = (text) => text
  listener: (result: ExportOutcome, spans: number) => void = () => {}

  constructor (inner: SpanExporter, budget: SpanBudget) {
    this.#inner = inner
    this.#budget = budget
  }

  export (spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) prepare(span, this.scrub)
    this.#inner.export(spans, (result) => {
      this.#budget.release(spans.length)
      this.listener(result.code === ExportResultCode.SUCCESS ? 'ok' : 'failed', spans.length)
      done(result)
    })
  }

  async shutdown (): Promise<void> {
    await this.#inner.shutdown()
  }
}

/**
 * The OTLP/HTTP exporter for the protocol, protobuf or JSON (the SDK reads headers, compression and TLS
 * settings itself). One export may take `timeoutMillis`, its retries included; as many exports may be under way
 * as the span budget has batches (a flush at shutdown sends them all at once), never more.
 */
export function otlpExporter ({ protocol, url, timeoutMillis, batch }: Pick<TracingSettings, 'protocol' | 'url' | 'timeoutMillis' | 'batch'>): SpanExporter {
  const options = { url, timeoutMillis, concurrencyLimit: Math.ceil(batch.maxQueueSize / batch.maxExportBatchSize) }
  return protocol === 'http/json' ? new OtlpJsonExporter(options) : new OtlpProtobufExporter(options)
}

/**
 * The way from a span's end to the OTLP receiver: the budget (every span held, at most OTEL_BSP_MAX_QUEUE_SIZE),
 * the SDK's batch processor with the OTEL_BSP_* settings, the scrubbing and counting exporter, the OTLP one.
 */
export function spanPipeline (settings: Pick<TracingSettings, 'protocol' | 'url' | 'timeoutMillis' | 'batch'>): { processor: SpanProcessor, exporter: GuardedExporter, budget: SpanBudget } {
  const budget = new SpanBudget(settings.batch.maxQueueSize)
  const exporter = new GuardedExporter(otlpExporter(settings), budget)
  const processor = new BudgetedSpanProcessor(new BatchSpanProcessor(exporter, settings.batch), budget, () => { exporter.listener('dropped', 1) })
  return { processor, exporter, budget }
}

/**
 * Starts OpenTelemetry tracing for the process, before the app is built: the tracer provider (batching, the
 * sampler, W3C Trace Context propagation — `tracestate` included, baggage not sent on to Vobiz), the OTLP/HTTP
 * exporter (protobuf or JSON), and the instrumentations: @fastify/otel for the server spans (registered by
 * the app as its first plugin), undici for the Vobiz requests (diagnostics channels: `traceparent` is added to
 * each), and ioredis when the fleet shares Redis (its module is loaded after this, through the ESM hook
 * registered here for it alone). Once per process: the SDK's tracer provider, context manager and propagator
 * are the process's.
 */
export function startSdk (settings: TracingSettings): Tracing {
  const { processor, exporter, budget } = spanPipeline(settings)
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      ...resourceAttributes(settings.resourceAttributes),
      [ATTR_SERVICE_NAME]: settings.serviceName,
      [ATTR_SERVICE_VERSION]: version,
      [ATTR_SERVICE_INSTANCE_ID]: randomUUID()
    }),
    sampler: samplerOf(settings),
    spanProcessors: [processor]
  })
  provider.register({ propagator: new W3CTraceContextPropagator() })

  const fastify = new FastifyOtelInstrumentation({
    // One server span per request; our own spans say where its time went, so no span per hook.
    instrumentHooks: false,
    instrumentHandler: false,
    // An exception event would carry the error's message; the span says what failed by its status instead.
    recordExceptions: false,
    ignorePaths: ({ url }) => UNTRACED.test(url),
    requestHook: (span, request) => {
      describeServerSpan(span, request)
      // A caller whose trace context was not trusted (src/http/trace-context.ts): its trace is linked, not joined.
      const caller = distrustedCaller(otelContext.active())
      if (caller !== undefined) span.addLink({ context: caller, attributes: { [ATTR.linkReason]: 'untrusted-caller' } })
      setRequestSpan(request, span)
    }
  })
  // HTTP client spans inside a trace only (the Vobiz attempts, a JWKS fetch for a request's token).
  const instrumentations: Instrumentation[] = [fastify, new UndiciInstrumentation({ requireParentforSpans: true })]
  // Covered by the built server's test with Redis (test/observability/tracing.test.ts): the hook is the process's.
  /* c8 ignore start */
  if (settings.redis) {
    // ioredis is loaded later (with the fleet plugin), as an ES module import: hooked for it alone.
    register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['ioredis'] } })
    // The command name only: arguments carry keys, lock tokens and the cached profile.
    instrumentations.push(new IORedisInstrumentation({ dbStatementSerializer: (command) => command, requireParentSpan: true }))
  }
  /* c8 ignore stop */
  const unregister = registerInstrumentations({ tracerProvider: provider, instrumentations })

  return {
    fastifyPlugin: fastify.plugin(),
    scrubWith: (scrub) => { exporter.scrub = scrub },
    onExport: (listener) => { exporter.listener = listener },
    held: () => budget.held,
    shutdown: async () => {
      unregister()
      await provider.shutdown()
    }
  }
}
