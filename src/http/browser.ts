import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface BrowserOptions {
  /** Allowed CORS origins; empty allows none, ['*'] allows any (never with credentials). */
  corsOrigins: string[]
}

/** Request headers a browser may send cross-origin, and response headers its scripts may read. */
const ALLOWED_HEADERS = ['X-API-Key', 'Authorization', 'Cache-Control', 'If-None-Match', 'X-Request-Id']
const EXPOSED_HEADERS = ['ETag', 'Age', 'Cache-Status', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'X-Request-Id']

/**
 * helmet's security headers for this service's options. They do not depend on the request, so helmet runs
 * once, here, against a recording response, instead of once per request.
 */
export function securityHeaders (): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = value },
    removeHeader: () => {}
  }
  helmet({
    // The API returns JSON only: its CSP allows nothing.
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
  })({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return headers
}

/**
 * Browser-facing defaults. Security headers on every response (helmet's, computed once; Swagger UI under
 * /docs replaces the CSP with its own). CORS (@fastify/cors) only for the configured origins: preflights are
 * answered without a key; cookies/credentials are never allowed.
 */
async function browser (app: FastifyInstance, { corsOrigins }: BrowserOptions): Promise<void> {
  const headers = securityHeaders()
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers)
    done()
  })
  if (corsOrigins.length === 0) return
  await app.register(cors, {
    origin: corsOrigins.includes('*') ? '*' : corsOrigins,
    methods: ['GET', 'HEAD'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    credentials: false,
    maxAge: 600,
    strictPreflight: true
  })
}

export default fp(browser, { name: 'browser', fastify: '5.x' })
