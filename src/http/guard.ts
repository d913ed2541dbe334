import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { authorize, type Identity } from './identity.ts'

/**
 * The onRequest step of every API route: identify, count against the rate limit, authorize (401 / 403 come
 * after the count, so failed attempts are limited too). Synchronous for API keys with the in-memory store.
 * Without scopes (a method the route does not serve) nothing is authorized: the handler answers 405.
 */
export function routeGuard (app: Pick<FastifyInstance, 'identify' | 'limiters'>): (scopes?: Parameters<typeof authorize>[0]) => { onRequest: onRequestHookHandler } {
  const { identify, limiters } = app
  return (scopes) => {
    const check = scopes === undefined ? () => undefined : authorize(scopes)
    const admit = (identity: Identity, request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void => {
      request.identity = identity
      limiters.enforce(request, reply, (err) => { done(err ?? check(identity)) })
    }
    return {
      onRequest (request, reply, done) {
        const identity = identify(request)
        if (identity instanceof Promise) {
          identity.then((resolved) => { admit(resolved, request, reply, done) }, done)
        } else {
          admit(identity, request, reply, done)
        }
      }
    }
  }
}
