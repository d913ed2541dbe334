import Type, { type TSchema } from 'typebox'
import { PROBLEM_CONTENT_TYPE, PROBLEMS, Problem, type ProblemCode } from './problem.ts'

/**
 * Route response definitions: the body schema plus what OpenAPI needs around it (description, headers,
 * content type, examples). Routes use these as Fastify response schemas; @fastify/swagger turns them into
 * the published spec, so the spec and the code share one source.
 */

const RequestIdHeader = Type.String({ description: 'The request id: the caller\'s X-Request-Id when it is a sane token, else a UUID' })

/** draft-ietf-httpapi-ratelimit-headers-10, on every response of the API routes. */
const RATE_LIMIT_HEADERS = {
  'RateLimit-Policy': Type.String({
    description: 'The caller\'s quota: `"default";q=<requests>;w=60` per consumer or token subject, `"anonymous";q=<requests>;w=60` per client IP without valid credentials',
    examples: ['"default";q=600;w=60']
  }),
  RateLimit: Type.String({ description: 'What is left: `"<policy>";r=<remaining>;t=<seconds until the window resets>`', examples: ['"default";r=597;t=42'] })
}

/** On errors the rate-limit headers are absent when the request was refused before rate limiting (load shedding). */
const SOMETIMES_RATE_LIMIT_HEADERS = Object.fromEntries(Object.entries(RATE_LIMIT_HEADERS).map(([name, schema]) =>
  [name, Type.String({ description: `${String((schema as { description?: string }).description)}. Absent when the request was shed before rate limiting.`, 'x-optional': true })]))

/** Headers of every success (and 304), describing freshness. */
export const FRESHNESS_HEADERS = {
  'Cache-Control': Type.String({ description: '`private, max-age=N`: N is this route\'s whole freshness lifetime; what is left is `max-age − Age` (RFC 9111 §4.2)', examples: ['private, max-age=30'] }),
  Age: Type.Integer({ minimum: 0, description: 'Seconds since this data was requested from Vobiz' }),
  ETag: Type.String({ description: 'Strong validator of the body; send it in If-None-Match to get 304', examples: ['"mCU2xBvHMTVQjYbUzx8iYnZIw4m"'] }),
  'Cache-Status': Type.String({
    description: 'RFC 9211; `ttl` = `max-age − Age`, negative once stale. `vobiz-bff; hit; ttl=N` when the request was not forwarded to Vobiz (a stale copy too, with `detail=stale-while-revalidate|only-if-cached|breaker-open|cooling-down`); `vobiz-bff; fwd=miss|stale|request; fwd-status=200; stored|collapsed; ttl=N` when fetched (`collapsed`: waited on another request\'s fetch); `vobiz-bff; fwd=stale; ttl=-N; detail=stale-if-error` when the fetch failed and a stale copy was served',
    examples: ['vobiz-bff; hit; ttl=25', 'vobiz-bff; fwd=miss; fwd-status=200; stored; ttl=30']
  }),
  'X-Request-Id': RequestIdHeader,
  ...RATE_LIMIT_HEADERS
}

/** Headers of an event stream's 200 (GET /profile/events). */
export const STREAM_HEADERS = {
  'Cache-Control': Type.Literal('no-cache', { description: 'An event stream is never stored' }),
  'X-Accel-Buffering': Type.Literal('no', { description: 'Tells nginx not to buffer the stream' }),
  'X-Request-Id': RequestIdHeader,
  ...RATE_LIMIT_HEADERS
}

export function okResponse (schema: TSchema, description: string, example: unknown) {
  return {
    description,
    headers: FRESHNESS_HEADERS,
    content: { 'application/json': { schema, example } }
  }
}

/** A response as HEAD gives it: the same description and headers, no content. */
export function withoutContent<T extends { description: string, headers: Record<string, unknown> }> (response: T): { description: string, headers: T['headers'], type: 'null' } {
  // `type: 'null'` is how @fastify/swagger is told there is no content (as for 304).
  return { description: response.description, headers: response.headers, type: 'null' }
}

export const NOT_MODIFIED = {
  description: 'Not Modified: If-None-Match matched the current ETag. Same headers as 200, no body',
  headers: FRESHNESS_HEADERS,
  type: 'null'
}

const EXTRA_HEADERS: Partial<Record<ProblemCode, Record<string, TSchema>>> = {
  missing_api_key: { 'WWW-Authenticate': Type.String({ examples: ['ApiKey header="X-API-Key"'] }) },
  invalid_api_key: { 'WWW-Authenticate': Type.String({ examples: ['ApiKey header="X-API-Key"'] }) },
  invalid_token: { 'WWW-Authenticate': Type.String({ examples: ['Bearer error="invalid_token"'] }) },
  rate_limited: { 'Retry-After': Type.Integer({ minimum: 0, description: 'Seconds until the rate-limit window resets' }) },
  upstream_rate_limited: { 'Retry-After': Type.Integer({ minimum: 1, description: 'Seconds to wait before retrying' }) },
  service_unavailable: { 'Retry-After': Type.Integer({ minimum: 1, description: 'Seconds to wait before retrying' }) }
}

const EXAMPLE_DETAIL: Partial<Record<ProblemCode, string>> = {
  missing_api_key: 'Send your API key in the X-API-Key header.',
  invalid_api_key: 'The X-API-Key sent is not a valid key.',
  insufficient_scope: 'This route needs the profile:read scope; the key\'s consumer does not grant it.',
  upstream_timeout: 'Vobiz did not answer within the upstream deadline. Try again shortly.'
}

/** A problem+json response whose `code` is one of `codes` (all sharing one HTTP status). */
export function problemResponse (description: string, codes: ProblemCode[]) {
  const first = codes[0] as ProblemCode
  const { status, title } = PROBLEMS[first]
  const headers: Record<string, TSchema> = { 'X-Request-Id': RequestIdHeader, 'Cache-Control': Type.Literal('no-store'), ...SOMETIMES_RATE_LIMIT_HEADERS }
  for (const code of codes) Object.assign(headers, EXTRA_HEADERS[code])
  const schema = Type.Object({
    ...Problem.properties,
    status: Type.Literal(status),
    code: Type.Enum(codes, { description: codes.map((c) => `\`${c}\`: ${PROBLEMS[c].title}`).join('; ') })
  }, { additionalProperties: false, description: 'RFC 9457 problem details' })
  return {
    description: `${description} (${codes.map((c) => `\`${c}\``).join(', ')})`,
    headers,
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema,
        example: {
          type: `urn:vobiz-bff:problem:${first}`,
          title,
          status,
          detail: EXAMPLE_DETAIL[first] ?? title,
          code: first,
          request_id: '4f1d2c3b-5a69-4e7f-8a1b-0c2d3e4f5a6b'
        }
      }
    }
  }
}

/** The error responses every API route can give. */
export function apiErrorResponses () {
  return {
    400: problemResponse('The request has query parameters; the API takes none', ['bad_request']),
    401: problemResponse('No credentials, a key that matches no consumer, or a bearer token that does not verify', ['missing_api_key', 'invalid_api_key', 'invalid_token']),
    403: problemResponse('The key\'s consumer or the token lacks the scope this route needs', ['insufficient_scope']),
    412: problemResponse('If-Match names no current representation (RFC 9110 §13.1.1): the data changed since that ETag', ['precondition_failed']),
    429: problemResponse('The caller\'s requests for this minute are spent; see Retry-After and RateLimit', ['rate_limited']),
    500: problemResponse('An unexpected error; quote request_id when reporting it', ['internal_error']),
    502: problemResponse('Vobiz failed (unreachable or 5xx, rejected our credentials, or sent an unusable response), or the circuit breaker is open — and no stale copy was usable', ['upstream_unavailable', 'upstream_auth_failed', 'upstream_invalid_response']),
    503: problemResponse('Vobiz is rate-limiting this service, or the service is overloaded; see Retry-After', ['upstream_rate_limited', 'service_unavailable']),
    504: problemResponse('Vobiz did not answer within UPSTREAM_TIMEOUT_MS, or only-if-cached found nothing usable cached', ['upstream_timeout', 'not_cached'])
  }
}
