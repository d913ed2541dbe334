import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { pino } from 'pino'
import type { Metrics } from '../observability/metrics.ts'
import { exemplarOf, requestSpan, traceFields } from '../observability/tracing.ts'
import { clientAddress } from './client-address.ts'

/**
 * Observes every request's duration and writes one summary line per request (instead of Fastify's two):
 * route template, status, consumer, the client address on refusals (401, 403, 429), cache outcome and
 * duration, and when tracing is on the request's trace and span ids (the duration gets its trace as an
 * exemplar). Never headers, so never a key.
 * Each route gets its own onResponse hook knowing its template (Fastify's routeOptions getter builds an
 * object per call); requests no route matched are handled by one global hook.
 */
export interface AccessLogOptions {
  /** Where access lines go (the app's log destination), or undefined for none (ACCESS_LOG=false, or a level above info). */
  write: ((line: string) => void) | undefined
  /** The logger's base fields, repeated on every line. */
  base: Record<string, string>
}

/**
 * The line pino would write for `log.info({ reqId, method, route, status, consumer, client, cache, ms, trace_id, span_id, trace_flags }, 'request')`,
 * built by hand: pino's serialisation of it cost ~16,000 CPU instructions per request (measured with
 * callgrind), more than the rest of the line's work. Every string that is not a constant of this module
 * goes through JSON.stringify.
 */
function lineWriter (write: (line: string) => void, base: Record<string, string>, route: string): (request: FastifyRequest, reply: FastifyReply, method: string, trace: string) => void {
  const head = `{"level":${pino.levels.values.info},"time":`
  const fields = `${JSON.stringify(base).slice(1, -1)},"reqId":`
  const routeField = `,"route":${JSON.stringify(route)}`
  return function writeLine (request, reply, method, trace) {
    const { identity } = request
    const consumer = identity == null || identity.kind === 'anonymous' ? '' : `,"consumer":${JSON.stringify(identity.name)}`
    const status = reply.statusCode
    // Refusals (401, 403, 429) say who was refused: the client address as TRUST_PROXY resolves it.
    const client = status === 401 || status === 403 || status === 429 ? `,"client":${JSON.stringify(clientAddress(request))}` : ''
    const cacheStatus = reply.getHeader('cache-status')
    const cache = typeof cacheStatus === 'string' ? `,"cache":${JSON.stringify(cacheStatus)}` : ''
    write(`${head}${Date.now()},${fields}${JSON.stringify(request.id)},"method":${method}${routeField},"status":${status}${consumer}${client}${cache},"ms":${Math.round(reply.elapsedTime * 10) / 10}${trace},"msg":"request"}\n`)
  }
}

/** The trace fields of a traced request's line (hex ids only), or nothing. */
function traceOf (span: ReturnType<typeof requestSpan>): string {
  const fields = traceFields(span)
  return fields === undefined ? '' : `,"trace_id":"${fields.trace_id}","span_id":"${fields.span_id}","trace_flags":"${fields.trace_flags}"`
}

async function accessLog (app: FastifyInstance, { write, base }: AccessLogOptions): Promise<void> {
  // With tracing on, lines carry the server span's ids, and durations its trace as an exemplar.
  const { metrics, traced } = app
  /** Records requests for one route template; the duration histogram's children are bound once per method and status. */
  function recorder (route: string): (request: FastifyRequest, reply: FastifyReply) => void {
    const byMethod = new Map<string, { json: string, durations: Map<number, ReturnType<Metrics['httpDuration']['labels']>> }>()
    const writeLine = write === undefined ? undefined : lineWriter(write, base, route)
    return function record (request, reply) {
      const { method } = request
      const status = reply.statusCode
      let known = byMethod.get(method)
      if (known === undefined) {
        known = { json: JSON.stringify(method), durations: new Map() }
        byMethod.set(method, known)
      }
      let duration = known.durations.get(status)
      if (duration === undefined) {
        duration = metrics.httpDuration.labels({ method, route, status: String(status) })
        known.durations.set(status, duration)
      }
      if (traced) {
        const span = requestSpan(request)
        duration.observe(reply.elapsedTime / 1000, exemplarOf(span))
        writeLine?.(request, reply, known.json, traceOf(span))
      } else {
        duration.observe(reply.elapsedTime / 1000)
        writeLine?.(request, reply, known.json, '')
      }
    }
  }

  app.addHook('onRoute', (route) => {
    const record = recorder(route.url)
    const hook: onResponseHookHandler = (request, reply, done) => {
      record(request, reply)
      done()
    }
    route.onResponse = [route.onResponse, hook].flat().filter((h) => h !== undefined)
  })
  const unrouted = recorder('(no route)')
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) unrouted(request, reply)
    done()
  })
}

export default fp(accessLog, { name: 'access-log', fastify: '5.x', dependencies: ['metrics', 'tracing'] })
