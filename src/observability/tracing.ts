import {
  createContextKey, INVALID_SPAN_CONTEXT, isSpanContextValid, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Link, type Span, type SpanContext
} from '@opentelemetry/api'
import type { FastifyPluginCallback } from 'fastify'
import { codeOf } from '../caught.ts'

/**
 * The service's side of OpenTelemetry tracing: its own spans, through the API package only. Until an SDK is
 * started (tracing-sdk.ts, loaded only when tracing is on) every span here is a no-op; the hot path (a cached
 * hit) does not even make one unless tracing is on.
 */

/** How the SDK is started (src/tracing-config.ts derives it from the OTEL_* variables). */
export interface TracingSettings {
  /** Where OTLP/HTTP traces are sent. */
  url: string
  protocol: 'http/protobuf' | 'http/json'
  serviceName: string
  /** OTEL_RESOURCE_ATTRIBUTES: `key=value,...`, values URL-encoded. */
  resourceAttributes: string | undefined
  sampler: 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio' | 'always_on' | 'always_off' | 'traceidratio'
  samplerRatio: number
  /** The batch span processor's bounds (OTEL_BSP_*): `maxQueueSize` bounds every span held, queued or being exported. */
  batch: { maxQueueSize: number, maxExportBatchSize: number, scheduledDelayMillis: number, exportTimeoutMillis: number }
  /** How long one export may take, retries included (OTEL_EXPORTER_OTLP_TIMEOUT). */
  timeoutMillis: number
  /** Trace Redis commands (REDIS_URL is set). */
  redis: boolean
}

/** What became of spans: exported, given up on after a failed export, or dropped because too many were held. */
export type ExportOutcome = 'ok' | 'failed' | 'dropped'

/** The running SDK, as the app uses it. */
export interface Tracing {
  /** @fastify/otel's plugin: the server span of each request, registered before any other hook. */
  fastifyPlugin: FastifyPluginCallback
  /** Every exported span goes through this first (the log's secret filter, which reloads extend). */
  scrubWith: (scrub: (text: string) => string) => void
  /** Told the result of every export (for metrics and the log), and of every span dropped because `maxQueueSize` spans are held. */
  onExport: (listener: (result: ExportOutcome, spans: number) => void) => void
  /** Spans held now: ended and not yet exported or given up on (at most `batch.maxQueueSize`). */
  held: () => number
  /** Exports what is buffered, then stops (at shutdown, after the last request). */
  shutdown: () => Promise<void>
}

/** Starts the OpenTelemetry SDK: loaded only now, so that a service without tracing never loads it. */
export async function startTracing (settings: TracingSettings): Promise<Tracing> {
  const { startSdk } = await import('./tracing-sdk.ts')
  return startSdk(settings)
}

/** The tracer of the service's own spans (cache, load, Vobiz fetch and attempts). */
export const tracer = trace.getTracer('vobiz-partner-bff')

/** The attributes of the service's spans (custom ones under `vobiz_bff.`). */
export const ATTR = {
  consumer: 'vobiz_bff.consumer',
  cacheOutcome: 'vobiz_bff.cache.outcome',
  cacheDetail: 'vobiz_bff.cache.detail',
  cacheAge: 'vobiz_bff.cache.age_seconds',
  cacheTtl: 'vobiz_bff.cache.ttl_seconds',
  view: 'vobiz_bff.view',
  loadVia: 'vobiz_bff.load.via',
  linkReason: 'vobiz_bff.link.reason',
  attempts: 'vobiz_bff.upstream.attempts',
  attempt: 'vobiz_bff.upstream.attempt',
  resendCount: 'http.request.resend_count',
  statusCode: 'http.response.status_code',
  errorType: 'error.type'
} as const

/** What an error is called on a span: its code when it has one (UpstreamError), else its class; never its message. */
export function errorType (err: unknown): string {
  return codeOf(err) ?? (err instanceof Error ? err.name : 'Error')
}

/** Marks a span failed with the error's type (semantic conventions: `error.type`), never its message. */
export function failSpan (span: Span, err: unknown): void {
  const type = errorType(err)
  span.setAttribute(ATTR.errorType, type)
  span.setStatus({ code: SpanStatusCode.ERROR, message: type })
}

/** Runs `fn` in a new active span, ended when it settles; a rejection marks the span failed. */
export async function inSpan<T> (name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return await tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      const result = await fn(span)
      span.end()
      return result
    } catch (err) {
      failSpan(span, err)
      span.end()
      throw err
    }
  })
}

/** The span active here, if any (a no-op without an SDK). */
export function activeSpan (): Span | undefined {
  return trace.getActiveSpan()
}

/** A link to `target` from the active span (a request that waited on a fetch another one started). */
export function linkActiveSpan (target: SpanContext | undefined, attributes: Attributes): void {
  if (target === undefined) return
  const link: Link = { context: target, attributes }
  trace.getActiveSpan()?.addLink(link)
}

/** Trace flags as in `traceparent`: two hex digits (`01`: sampled). */
const flagsHex = (context: SpanContext): string => context.traceFlags.toString(16).padStart(2, '0')

/** A span context as text (`<trace id>-<span id>-<flags>`), for another replica to link to. */
export function formatSpanContext (context: SpanContext | undefined): string | undefined {
  return context === undefined || !isSpanContextValid(context) ? undefined : `${context.traceId}-${context.spanId}-${flagsHex(context)}`
}

/** The span context `formatSpanContext` wrote, or undefined for anything else. */
export function parseSpanContext (text: string): SpanContext | undefined {
  const match = /^([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(text)
  if (match === null) return undefined
  const context: SpanContext = { traceId: match[1] as string, spanId: match[2] as string, traceFlags: Number.parseInt(match[3] as string, 16), isRemote: true }
  return isSpanContextValid(context) ? context : undefined
}

// The server span of each request, set by tracing-sdk.ts when @fastify/otel starts it.
const requestSpans = new WeakMap<object, Span>()

export function setRequestSpan (request: object, span: Span): void {
  requestSpans.set(request, span)
}

/** The server span of a request, when it is traced. */
export function requestSpan (request: object): Span | undefined {
  return requestSpans.get(request)
}

/** Trace and span ids of a span, for a log line (valid ones only). */
export function traceFields (span: Span | undefined): { trace_id: string, span_id: string, trace_flags: string } | undefined {
  const context = span?.spanContext()
  if (context === undefined || !isSpanContextValid(context)) return undefined
  return { trace_id: context.traceId, span_id: context.spanId, trace_flags: flagsHex(context) }
}

/** The fields pino adds to every line written inside a traced request (the active span's ids). */
export function activeTraceFields (): Record<string, string> {
  return traceFields(trace.getActiveSpan()) ?? {}
}

/** An exemplar's labels (OpenMetrics) for a sampled span, else undefined. */
export function exemplarOf (span: Span | undefined): { trace_id: string, span_id: string } | undefined {
  const context = span?.spanContext()
  if (context === undefined || (context.traceFlags & TraceFlags.SAMPLED) === 0 || !isSpanContextValid(context)) return undefined
  return { trace_id: context.traceId, span_id: context.spanId }
}

/** The context an untrusted caller's `traceparent` carried (see src/http/trace-context.ts). */
const UNTRUSTED_CALLER = createContextKey('vobiz_bff untrusted caller')
/** A parent that is no parent: @fastify/otel extracts the caller's context only while no span is active, and the SDK starts a new root under an invalid one. */
const NO_PARENT = trace.wrapSpanContext(INVALID_SPAN_CONTEXT)

/** `active` for a request whose trace context is not trusted: its server span starts a new trace, and links to `caller`. */
export function distrustCaller (active: Context, caller: SpanContext | undefined): Context {
  const untrusted = trace.setSpan(active, NO_PARENT)
  return caller === undefined ? untrusted : untrusted.setValue(UNTRUSTED_CALLER, caller)
}

/** The caller's context `distrustCaller` kept, in `active`. */
export function distrustedCaller (active: Context): SpanContext | undefined {
  return active.getValue(UNTRUSTED_CALLER) as SpanContext | undefined
}
