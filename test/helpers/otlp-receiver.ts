import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import type { Test } from 'tap'
import type { TracingSettings } from '../../src/observability/tracing.ts'
import { until } from './time.ts'

/**
 * A real OTLP/HTTP trace receiver (what a collector, Jaeger or Tempo runs), decoding what it is sent with the
 * OpenTelemetry project's own OTLP definitions: protobuf through @opentelemetry/otlp-transformer's generated
 * decoder, JSON by the OTLP/JSON mapping (hex ids, typed values).
 */

// The last otlp-transformer with the generated protobufjs message classes (their decode() is what a receiver needs).
const root = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { trace: { v1: { ExportTraceServiceRequest: { decode: (bytes: Uint8Array) => unknown } } } } } }
}
const ExportTraceServiceRequest = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest

export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  /** 1 internal, 2 server, 3 client. */
  kind: number
  attributes: Record<string, unknown>
  events: Array<{ name: string, attributes: Record<string, unknown> }>
  links: Array<{ traceId: string, spanId: string, attributes: Record<string, unknown> }>
  /** 0 unset, 1 ok, 2 error. */
  status: { code: number, message: string }
  resource: Record<string, unknown>
  /** How it came: the request's Content-Type. */
  contentType: string
}

interface KeyValue { key: string, value: AnyValue }
interface AnyValue { stringValue?: string, boolValue?: boolean, intValue?: number | string | { toString: () => string }, doubleValue?: number, arrayValue?: { values?: AnyValue[] } }

function valueOf (value: AnyValue | undefined): unknown {
  if (value === undefined) return undefined
  if (value.stringValue !== undefined && value.stringValue !== null) return value.stringValue
  if (value.boolValue !== undefined && value.boolValue !== null) return value.boolValue
  if (value.intValue !== undefined && value.intValue !== null) return Number(value.intValue.toString())
  if (value.doubleValue !== undefined && value.doubleValue !== null) return value.doubleValue
  if (value.arrayValue !== undefined && value.arrayValue !== null) return (value.arrayValue.values ?? []).map(valueOf)
  return undefined
}

function attributesOf (list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]))
}

/** Ids are bytes in protobuf and hex in OTLP/JSON. */
function hex (id: Uint8Array | string | null | undefined): string {
  if (id === undefined || id === null) return ''
  return typeof id === 'string' ? id : Buffer.from(id).toString('hex')
}

interface OtlpSpan {
  traceId: Uint8Array | string
  spanId: Uint8Array | string
  parentSpanId?: Uint8Array | string | null
  name: string
  kind?: number
  attributes?: KeyValue[]
  events?: Array<{ name: string, attributes?: KeyValue[] }>
  links?: Array<{ traceId: Uint8Array | string, spanId: Uint8Array | string, attributes?: KeyValue[] }>
  status?: { code?: number, message?: string }
}
interface OtlpRequest { resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }, scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> }

function spansOf (request: OtlpRequest, contentType: string): ReceivedSpan[] {
  return (request.resourceSpans ?? []).flatMap((resourceSpans) => {
    const resource = attributesOf(resourceSpans.resource?.attributes)
    return (resourceSpans.scopeSpans ?? []).flatMap((scope) => (scope.spans ?? []).map((span): ReceivedSpan => ({
      traceId: hex(span.traceId),
      spanId: hex(span.spanId),
      parentSpanId: hex(span.parentSpanId),
      name: span.name,
      kind: span.kind ?? 0,
      attributes: attributesOf(span.attributes),
      events: (span.events ?? []).map((event) => ({ name: event.name, attributes: attributesOf(event.attributes) })),
      links: (span.links ?? []).map((link) => ({ traceId: hex(link.traceId), spanId: hex(link.spanId), attributes: attributesOf(link.attributes) })),
      status: { code: span.status?.code ?? 0, message: span.status?.message ?? '' },
      resource,
      contentType
    })))
  })
}

async function bodyOf (request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

export interface OtlpReceiver {
  /** The OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT): traces are posted to `<url>/v1/traces`. */
  url: string
  spans: ReceivedSpan[]
  /** Every byte received, as text: for searching for secrets. */
  raw: () => string
  /** While true, every export is answered 503 (a receiver that is down). */
  failing: boolean
  /** Resolves once a span matching `predicate` has arrived (60 s at most). */
  waitForSpan: (what: string, predicate: (span: ReceivedSpan) => boolean) => Promise<ReceivedSpan>
}

export async function startOtlpReceiver (t: Test): Promise<OtlpReceiver> {
  const receiver: OtlpReceiver = {
    url: '',
    spans: [],
    raw: () => raw.map((body) => body.toString('latin1')).join('\n'),
    failing: false,
    waitForSpan: async (what, predicate) => {
      await until(what, () => receiver.spans.some(predicate))
      return receiver.spans.find(predicate) as ReceivedSpan
    }
  }
  const raw: Buffer[] = []
  const server = createServer((request, response) => {
    bodyOf(request).then((body) => {
      raw.push(body)
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end()
        return
      }
      if (receiver.failing) {
        response.writeHead(503).end()
        return
      }
      const contentType = request.headers['content-type'] ?? ''
      const decoded = contentType.startsWith('application/x-protobuf')
        ? ExportTraceServiceRequest.decode(body) as OtlpRequest
        : JSON.parse(body.toString('utf8')) as OtlpRequest
      receiver.spans.push(...spansOf(decoded, contentType))
      response.writeHead(200, { 'content-type': contentType }).end(contentType.startsWith('application/json') ? '{}' : undefined)
    }, () => { response.writeHead(400).end() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return receiver
}

/**
 * Tracing settings for an in-process SDK exporting to `url` (`<receiver>/v1/traces`): exported within a tenth of
 * a second, and a failing receiver given up on within one.
 */
export function testTracing (url: string, overrides: Partial<TracingSettings> = {}): TracingSettings {
  return {
    url,
    protocol: 'http/protobuf',
    serviceName: 'test',
    resourceAttributes: undefined,
    sampler: 'always_on',
    samplerRatio: 1,
    batch: { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 100, exportTimeoutMillis: 30_000 },
    timeoutMillis: 1000,
    redis: false,
    ...overrides
  }
}
