import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface BrowserOptions {
  /** Allowed CORS origins; empty allows none, ['*'] allows any (never with credentials). */
  corsOrigins: string[]
}

/** Request headers a browser may send cross-origin, and response headers its scripts may read. */
const ALLOWED_HEADERS = ['X-API-Key', 'Authorization', 'Cache-Control', 'If-None-Match', 'X-Request-Id']
const EXPOSED_HEADERS = ['ETag', 'Age', 'Cache-Status', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'X-Request-Id']

/**
 * Browser-facing defaults. Security headers on every response (@fastify/helmet): the API returns JSON only,
 * so its CSP allows nothing (Swagger UI under /docs sets its own). CORS (@fastify/cors) only for the
 * configured origins: preflights are answered without a key; cookies/credentials are never allowed.
 */
async function browser (app: FastifyInstance, { corsOrigins }: BrowserOptions): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
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
