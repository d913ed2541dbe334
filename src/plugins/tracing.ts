import { ATTR_CLIENT_ADDRESS } from '@opentelemetry/semantic-conventions'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { clientAddress } from '../http/client-address.ts'
import { traceContextGate } from '../http/trace-context.ts'
import type { SecretFilter } from '../observability/secret-filter.ts'
import { ATTR, requestSpan, type Tracing } from '../observability/tracing.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Tracing is on: the routes make their cache spans, the access log adds trace ids. */
    traced: boolean
  }
}

export interface TracingPluginOptions {
  /** The started SDK (src/observability/tracing-sdk.ts), or undefined when tracing is off. */
  tracing: Tracing | undefined
  /** The log's secret filter: exported spans are scrubbed by it too. */
  secrets: Pick<SecretFilter, 'scrub'>
}

/**
 * Tracing's place in the app, when it is on: @fastify/otel first (so that every later hook, the route and the
 * log lines run inside the request's span), the consumer's name on the server span, every exported span
 * scrubbed of secrets, an untrusted caller's trace context not continued (src/http/trace-context.ts), and
 * exports counted (a receiver that stops answering is logged once, and when it is back), and dropped spans.
 */
async function tracing (app: FastifyInstance, { tracing, secrets }: TracingPluginOptions): Promise<void> {
  app.decorate('traced', tracing !== undefined)
  if (tracing === undefined) return
  // Before @fastify/otel's hook: only an authenticated caller's traceparent is continued (identify is the
  // callers plugin's, registered later: looked up when a request comes).
  app.addHook('onRequest', traceContextGate((request) => app.identify(request)))
  await app.register(tracing.fastifyPlugin)
  tracing.scrubWith((text) => secrets.scrub(text))
  const log = app.log.child({ component: 'tracing' })
  const state = { failing: false }
  app.metrics.watch({ traceSpansHeld: tracing.held })
  tracing.onExport((result, spans) => {
    app.metrics.traceSpans?.inc({ result }, spans)
    // Drops are counted only: they say the receiver is slow or gone, which its failures already say.
    if (result === 'dropped') return
    const ok = result === 'ok'
    if (ok === !state.failing) return
    state.failing = !ok
    if (ok) log.info('trace export works again')
    else log.warn('trace export failed: spans are dropped until the OTLP receiver accepts them again (vobiz_bff_trace_spans_exported_total)')
  })
  // The consumer's name (never its key): known once the route guard ran, so added before the span ends. And
  // the client's address as the rate limiter counts it: only ever an address (src/http/client-address.ts).
  app.addHook('onSend', (request, _reply, payload, done) => {
    const span = requestSpan(request)
    if (span !== undefined) {
      span.setAttribute(ATTR_CLIENT_ADDRESS, clientAddress(request))
      const { identity } = request
      if (identity != null && identity.kind !== 'anonymous') span.setAttribute(ATTR.consumer, identity.name)
    }
    done(null, payload)
  })
}

export default fp(tracing, { name: 'tracing', fastify: '5.x', dependencies: ['metrics'] })
