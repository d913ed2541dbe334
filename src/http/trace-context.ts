import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import { distrustCaller } from '../observability/tracing.ts'
import type { Identify, Identity } from './identity.ts'

/**
 * Whose trace context the service continues: an authenticated caller's only. A `traceparent` is the caller's
 * word; honouring it lets the caller decide what is sampled (its flag) and which trace the service's spans join.
 * So a request that carries one is identified before its server span starts (the span is started by
 * @fastify/otel's onRequest hook, which runs right after this one): a caller with a valid API key or a verified
 * JWT continues its trace; anyone else (no credentials, a wrong key, a refused token) starts a new root under
 * the configured sampler, its server span linking to the caller's context. The identity is handed to the route
 * guard, which then does not identify the request a second time (`takeEarlyIdentity`).
 */

const early = new WeakMap<FastifyRequest, Identity | Promise<Identity>>()

/** The identity the trace gate worked out for this request, once (for the route guard; undefined when there is none). */
export function takeEarlyIdentity (request: FastifyRequest): Identity | Promise<Identity> | undefined {
  const identity = early.get(request)
  early.delete(request)
  return identity
}

function admit (identity: Identity, request: FastifyRequest, done: () => void): void {
  if (identity.kind !== 'anonymous') {
    done()
    return
  }
  const caller = trace.getSpanContext(propagation.extract(ROOT_CONTEXT, request.headers))
  context.with(distrustCaller(context.active(), caller), done)
}

/** The onRequest hook, added before @fastify/otel's: `identify` is the app's (called only when a traceparent came). */
export function traceContextGate (identify: Identify): onRequestHookHandler {
  return function traceContextGate (request, _reply, done) {
    if (request.headers.traceparent === undefined) {
      done()
      return
    }
    const identity = identify(request)
    early.set(request, identity)
    if (identity instanceof Promise) identity.then((resolved) => { admit(resolved, request, done) }, done)
    else admit(identity, request, done)
  }
}
