import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { hasAnyScope, type ConsumerRegistry, type Consumer, type Scope } from '../consumers.ts'
import { problem } from './problems.ts'

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated consumer; set by the authorize hook on protected routes. */
    consumer?: Consumer
  }
}

const CHALLENGE = { 'www-authenticate': 'ApiKey header="X-API-Key"' }

/**
 * An onRequest hook that admits a request only with a valid X-API-Key whose consumer holds one of `anyOf`.
 * Missing or unknown key → 401; known key without the scope → 403.
 */
export function authorize (registry: ConsumerRegistry, anyOf: readonly Scope[]): onRequestHookHandler {
  const needed = anyOf.join(' or ')
  return function authorizeRequest (request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
    const key = request.headers['x-api-key']
    if (typeof key !== 'string' || key === '') {
      done(problem('missing_api_key', 'Send your API key in the X-API-Key header.', CHALLENGE))
      return
    }
    const consumer = registry.authenticate(key)
    if (consumer === undefined) {
      done(problem('invalid_api_key', 'The X-API-Key sent is not a valid key.', CHALLENGE))
      return
    }
    request.consumer = consumer
    if (!hasAnyScope(consumer, anyOf)) {
      done(problem('insufficient_scope', `This route needs the ${needed} scope; the key's consumer does not have it.`))
      return
    }
    done()
  }
}
