import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { PROBLEM_CONTENT_TYPE, PROBLEMS, type Problem, type ProblemCode } from '../schemas/problem.ts'
import { UpstreamError } from '../vobiz/errors.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What a 405 on this route's path names in `Allow` (default `GET, HEAD`): for a route that serves less. */
    allow?: string
  }
}

/** An error that becomes exactly one problem response. Create them with `problem()`. */
export class ProblemError extends Error {
  readonly code: ProblemCode
  readonly headers: Record<string, string>

  constructor (code: ProblemCode, detail: string, headers: Record<string, string> = {}) {
    super(detail)
    this.name = 'ProblemError'
    this.code = code
    this.headers = headers
  }
}

export function problem (code: ProblemCode, detail: string, headers?: Record<string, string>): ProblemError {
  return new ProblemError(code, detail, headers)
}

/** The problem a request was refused with before routing (on the raw request; see refuseBeforeRouting). */
const REFUSED = Symbol('refused before routing')
type Refusable = IncomingMessage & { [REFUSED]?: ProblemError }
/** A path no route can have (`%` decoded): where a refused request is routed, to reach the not-found handler. */
const UNROUTABLE = '/%25'

/**
 * Answers a request the server refuses before it can be routed (a path that is not valid percent-encoding,
 * an `Expect` it cannot meet) with `error`, through the app like any other request: it is routed to a path no
 * route has, so every hook runs (request id, security headers, CORS, span, access line and metrics) and the
 * not-found handler sends the problem. Its own path is never echoed.
 */
export function refuseBeforeRouting (request: IncomingMessage, response: ServerResponse, error: ProblemError, routing: (request: IncomingMessage, response: ServerResponse) => void): void {
  (request as Refusable)[REFUSED] = error
  request.url = UNROUTABLE
  routing(request, response)
}

/** Codes for the client errors Fastify and Node raise themselves; any other 4xx is `client_error`. */
const CODE_BY_STATUS = new Map<number, ProblemCode>([
  [400, 'bad_request'],
  [404, 'not_found'],
  [405, 'method_not_allowed'],
  [406, 'not_acceptable'],
  [408, 'request_timeout'],
  [413, 'payload_too_large'],
  [414, 'uri_too_long'],
  [415, 'unsupported_media_type'],
  [431, 'headers_too_large']
])

const UPSTREAM_DETAIL: Record<UpstreamError['code'], string> = {
  upstream_timeout: 'Vobiz did not answer within the upstream deadline. Try again shortly.',
  upstream_unavailable: 'Vobiz could not be reached or answered with a server error. Try again shortly.',
  upstream_auth_failed: 'Vobiz rejected the partner credentials this service holds. Operators have been alerted; retrying will not help.',
  upstream_rate_limited: 'Vobiz is rate-limiting this service. Retry after the time given in Retry-After.',
  upstream_invalid_response: 'Vobiz sent a response this service could not use. Try again shortly.'
}

/** Maps any thrown value to a problem; only ProblemError and UpstreamError texts are trusted for `detail`. */
function toProblem (error: unknown): ProblemError {
  if (error instanceof ProblemError) return error
  if (error instanceof UpstreamError) {
    const headers: Record<string, string> = error.retryAfterSeconds === undefined ? {} : { 'retry-after': String(error.retryAfterSeconds) }
    const detail = error.shortCircuit === 'breaker-open'
      ? 'Vobiz has been failing, so this service has stopped calling it for a moment. Retry after the time given in Retry-After.'
      : UPSTREAM_DETAIL[error.code]
    return problem(error.code, detail, headers)
  }
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation !== undefined) {
    return problem('bad_request', `Invalid request: ${String(fastifyError.message)}`)
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code = CODE_BY_STATUS.get(status) ?? 'client_error'
    // Fastify's own client-error messages describe the request, never server state.
    const trusted = typeof fastifyError.code === 'string' && fastifyError.code.startsWith('FST_')
    return problem(code, trusted && fastifyError.message !== undefined ? fastifyError.message : PROBLEMS[code].title)
  }
  if (status === 503) return problem('service_unavailable', 'The service is not accepting requests right now. Try again shortly.', { 'retry-after': '1' })
  return problem('internal_error', 'An unexpected error occurred. Quote the request_id when reporting it.')
}

export function sendProblem (request: FastifyRequest, reply: FastifyReply, error: ProblemError): FastifyReply {
  const { status, title } = PROBLEMS[error.code]
  const body: Problem = {
    type: `urn:vobiz-bff:problem:${error.code}`,
    title,
    status,
    detail: error.message,
    code: error.code,
    request_id: request.id
  }
  return reply
    .code(status)
    .headers(error.headers)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(body))
}

/** The one error handler and the one not-found handler: every error leaves as RFC 9457 problem+json. */
async function problems (app: FastifyInstance): Promise<void> {
  app.setErrorHandler((error, request, reply) => {
    const mapped = toProblem(error)
    const { status } = PROBLEMS[mapped.code]
    if (status >= 500 && !(error instanceof UpstreamError) && mapped.code !== 'service_unavailable') {
      request.log.error({ err: error }, 'unhandled error')
    }
    return sendProblem(request, reply, mapped)
  })

  // Paths served to GET, with the methods they serve (`Allow`), to tell "wrong method" (405) from "no such path"
  // (404): exact ones in a map, and the prefixes of wildcard routes (`/docs/static/*`). A lookup, not the
  // router: find-my-way's hasRoute() throws on paths it would not accept as route definitions (e.g. with a
  // `*`). HEAD counts too: Fastify reports some GET routes (a prefix's trailing-slash twin) only through their
  // automatic HEAD. A route serving less than GET and HEAD says so in its config (`allow`).
  const allowed = new Map<string, string>()
  // Stryker disable next-line ArrayDeclaration: an entry that is not a path prefix (paths start with /) never matches
  const prefixes: Array<[string, string]> = []
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const allow = route.config?.allow
    if (allow === undefined && !methods.includes('GET') && !methods.includes('HEAD')) return
    if (route.url.endsWith('*')) prefixes.push([route.url.slice(0, -1), allow ?? 'GET, HEAD'])
    else if (allow !== undefined || !allowed.has(route.url)) allowed.set(route.url, allow ?? 'GET, HEAD')
  })

  app.setNotFoundHandler((request, reply) => {
    const refused = (request.raw as Refusable)[REFUSED]
    if (refused !== undefined) return sendProblem(request, reply, refused)
    const path = request.url.split('?', 1)[0] as string
    const allow = allowed.get(path) ?? prefixes.find(([prefix]) => path.startsWith(prefix))?.[1]
    if (allow !== undefined) {
      return sendProblem(request, reply, problem('method_not_allowed', `${request.method} is not supported on ${path}; use ${allow.replace(', ', ' or ')}.`, { allow }))
    }
    return sendProblem(request, reply, problem('not_found', 'No resource here. The API serves GET /profile and GET /profile/balance.'))
  })
}

// Stryker disable next-line StringLiteral: the version range only guards against a Fastify major this package does not install
export default fp(problems, { name: 'problems', fastify: '5.x' })
