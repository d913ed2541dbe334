import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Metrics } from './metrics.ts'

/**
 * Echoes the request id on every response and writes one summary line per request (instead of Fastify's
 * two): route template, status, consumer, cache outcome and duration. Never headers, so never a key.
 */
async function accessLog (app: FastifyInstance, { metrics, enabled }: { metrics: Metrics, enabled: boolean }): Promise<void> {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? '(no route)'
    metrics.httpDuration.observe({ method: request.method, route, status: reply.statusCode }, reply.elapsedTime / 1000)
    if (!enabled) {
      done()
      return
    }
    request.log.info({
      method: request.method,
      route,
      status: reply.statusCode,
      consumer: request.identity == null || request.identity.kind === 'anonymous' ? undefined : request.identity.name,
      cache: reply.getHeader('cache-status'),
      ms: Math.round(reply.elapsedTime * 10) / 10
    }, 'request')
    done()
  })
}

export default fp(accessLog, { name: 'access-log', fastify: '5.x' })
