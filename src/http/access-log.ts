import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from './metrics.ts'

/**
 * Echoes the request id on every response and writes one summary line per request (instead of Fastify's
 * two): route template, status, consumer, cache outcome and duration. Never headers, so never a key.
 * Each route gets its own onResponse hook knowing its template (Fastify's routeOptions getter builds an
 * object per call); requests no route matched are handled by one global hook.
 */
export interface AccessLogOptions {
  metrics: Metrics
  enabled: boolean
  /** Writes the access lines (the line holds no header, so this logger need not redact). */
  logger: FastifyBaseLogger
}

async function accessLog (app: FastifyInstance, { metrics, enabled, logger: log }: AccessLogOptions): Promise<void> {
  // The duration histogram's children, bound once per method, route and status.
  const durations = new Map<string, ReturnType<Metrics['httpDuration']['labels']>>()

  function record (request: FastifyRequest, reply: FastifyReply, route: string): void {
    const { method } = request
    const status = reply.statusCode
    const key = `${method} ${status} ${route}`
    let duration = durations.get(key)
    if (duration === undefined) {
      duration = metrics.httpDuration.labels(method, route, String(status))
      durations.set(key, duration)
    }
    duration.observe(reply.elapsedTime / 1000)
    if (!enabled) return
    const { identity } = request
    log.info({
      reqId: request.id,
      method,
      route,
      status,
      consumer: identity == null || identity.kind === 'anonymous' ? undefined : identity.name,
      cache: reply.getHeader('cache-status'),
      ms: Math.round(reply.elapsedTime * 10) / 10
    }, 'request')
  }

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onRoute', (route) => {
    const template = route.url
    const hook: onResponseHookHandler = (request, reply, done) => {
      record(request, reply, template)
      done()
    }
    route.onResponse = [route.onResponse, hook].flat().filter((h) => h !== undefined)
  })
  app.addHook('onResponse', (request, reply, done) => {
    if (request.is404) record(request, reply, '(no route)')
    done()
  })
}

export default fp(accessLog, { name: 'access-log', fastify: '5.x' })
