import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { authorize, type Identity } from './identity.ts'
import { problem } from './problems.ts'
import { takeEarlyIdentity } from './trace-context.ts'

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
        // Identified already when tracing had to decide whether to continue the caller's trace (trace-context.ts).
        const identity = takeEarlyIdentity(request) ?? identify(request)
        if (identity instanceof Promise) {
          identity.then((resolved) => { admit(resolved, request, reply, done) }, done)
        } else {
          admit(identity, request, reply, done)
        }
      }
    }
  }
}

/**
 * The API takes no query parameters: unknown ones are a 400, not silently ignored. Checked here rather than
 * by a querystring schema, whose validator would convert and check an empty object on every request.
 */
export function rejectQuery (request: FastifyRequest): void {
  const [name] = Object.keys(request.query as object)
  if (name !== undefined) throw problem('bad_request', `Invalid request: unknown query parameter ${JSON.stringify(name.slice(0, 64))}; this route takes none.`)
}
