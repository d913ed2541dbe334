import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from './metrics.ts'

/**
 * Observes every request's duration and writes one summary line per request (instead of Fastify's two): route template, status, consumer, cache outcome and duration. Never headers, so never a key.
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
  /** Records requests for one route template; the duration histogram's children are bound once per method and status. */
  function recorder (route: string): (request: FastifyRequest, reply: FastifyReply) => void {
    const durations = new Map<string, Map<number, ReturnType<Metrics['httpDuration']['labels']>>>()
    return function record (request, reply) {
      const { method } = request
      const status = reply.statusCode
      let byStatus = durations.get(method)
      if (byStatus === undefined) {
        byStatus = new Map()
        durations.set(method, byStatus)
      }
      let duration = byStatus.get(status)
      if (duration === undefined) {
        duration = metrics.httpDuration.labels({ method, route, status: String(status) })
        byStatus.set(status, duration)
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

export default fp(accessLog, { name: 'access-log', fastify: '5.x' })
