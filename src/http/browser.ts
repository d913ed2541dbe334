import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface BrowserOptions {
  /** Allowed CORS origins; empty allows none, ['*'] allows any (never with credentials). */
  corsOrigins: string[]
}

/** Request headers a browser may send cross-origin, and response headers its scripts may read. */
const ALLOWED_HEADERS = ['X-API-Key', 'Authorization', 'Cache-Control', 'If-None-Match', 'If-Match', 'X-Request-Id']
const EXPOSED_HEADERS = ['ETag', 'Age', 'Cache-Status', 'RateLimit', 'RateLimit-Policy', 'Retry-After', 'WWW-Authenticate', 'X-Request-Id']

/** helmet's headers for `options`, recorded once from a fake response: they never depend on the request. */
function helmetHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader: (name: string, value: string) => { headers[name.toLowerCase()] = value },
    removeHeader: () => {}
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return headers
}

/**
 * The security headers of every response. The API answers JSON only, so it sends what the OWASP REST Security
 * Cheat Sheet lists for API responses — a CSP that allows nothing and no framing, HSTS, nosniff,
 * X-Frame-Options DENY — plus Cross-Origin-Resource-Policy (no cross-origin no-cors reads of the data).
 * helmet's other defaults only mean something for HTML documents, and each header costs a cache hit
 * ~1,700 instructions in node:http, so they go on the Swagger UI pages alone (DOCUMENT_SECURITY_HEADERS).
 */
export const API_SECURITY_HEADERS: Readonly<Record<string, string>> = helmetHeaders({
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  xFrameOptions: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false
})

/** helmet's defaults but the CSP, for HTML pages (Swagger UI, which sets its own CSP). */
export const DOCUMENT_SECURITY_HEADERS: Readonly<Record<string, string>> = helmetHeaders({ contentSecurityPolicy: false, xFrameOptions: { action: 'deny' } })

/**
 * Headers on every response, from one onRequest hook: the request id (the caller's, when sane, or a new
 * one) and the API's security headers. Then CORS (@fastify/cors), only for the configured origins:
 * preflights are answered without a key; cookies/credentials are never allowed.
 */
async function browser (app: FastifyInstance, { corsOrigins }: BrowserOptions): Promise<void> {
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(API_SECURITY_HEADERS).header('x-request-id', request.id)
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
