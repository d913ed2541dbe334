import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { problem } from './problems.ts'

/**
 * Shutdown, as clients see it. Once close() begins, every request — readiness included, so the load balancer
 * takes this replica out — is answered 503 problem+json with `Connection: close` (requests already in flight
 * finish normally), and idle keep-alive connections are closed until the server has: Node stops accepting
 * and drops the idle ones once, but a connection busy at that moment stays open after its response.
 */
async function drain (app: FastifyInstance): Promise<void> {
  let draining = false
  let reaper: NodeJS.Timeout | undefined
  app.addHook('preClose', (done) => {
    draining = true
    reaper = setInterval(() => app.server.closeIdleConnections(), 50).unref()
    done()
  })
  app.addHook('onClose', (_app, done) => {
    clearInterval(reaper)
    done()
  })
  app.addHook('onRequest', (_request, reply, done) => {
    if (!draining) {
      done()
      return
    }
    reply.header('connection', 'close')
    done(problem('service_unavailable', 'This instance is shutting down. Retry: another instance will answer.', { 'retry-after': '1' }))
  })
}

export default fp(drain, { name: 'drain', fastify: '5.x' })
