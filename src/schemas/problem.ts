import Type, { type Static } from 'typebox'

/**
 * Every error this service returns, by stable machine code. `status` is the HTTP status it is sent with.
 * The one place error codes are defined: the error handler, the routes and the docs read this table.
 */
export const PROBLEMS = {
  bad_request: { status: 400, title: 'Bad request' },
  missing_api_key: { status: 401, title: 'API key required' },
  invalid_api_key: { status: 401, title: 'API key not recognised' },
  invalid_token: { status: 401, title: 'Bearer token refused' },
  missing_token: { status: 401, title: 'Bearer token required' },
  insufficient_scope: { status: 403, title: 'Insufficient scope' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  request_timeout: { status: 408, title: 'Request timeout' },
  precondition_failed: { status: 412, title: 'Precondition failed' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  expectation_failed: { status: 417, title: 'Expectation failed' },
  rate_limited: { status: 429, title: 'Too many requests' },
  headers_too_large: { status: 431, title: 'Request headers too large' },
  client_error: { status: 400, title: 'Client error' },
  internal_error: { status: 500, title: 'Internal error' },
  not_implemented: { status: 501, title: 'Method not implemented' },
  upstream_unavailable: { status: 502, title: 'Vobiz is unavailable' },
  upstream_auth_failed: { status: 502, title: 'Vobiz rejected this service\'s credentials' },
  upstream_invalid_response: { status: 502, title: 'Vobiz sent an invalid response' },
  upstream_rate_limited: { status: 503, title: 'Vobiz is rate-limiting this service' },
  service_unavailable: { status: 503, title: 'Service unavailable' },
  upstream_timeout: { status: 504, title: 'Vobiz did not answer in time' },
  not_cached: { status: 504, title: 'Not cached' }
} as const satisfies Record<string, { status: number, title: string }>

export type ProblemCode = keyof typeof PROBLEMS

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export const Problem = Type.Object({
  type: Type.String({ description: 'URI naming the problem type: urn:vobiz-bff:problem:<code>' }),
  title: Type.String(),
  status: Type.Integer({ minimum: 400, maximum: 599 }),
  detail: Type.String(),
  code: Type.Enum(Object.keys(PROBLEMS) as ProblemCode[], { description: 'Stable machine-readable code' }),
  request_id: Type.String({ description: 'Echoes X-Request-Id; quote it when reporting a problem' })
}, { additionalProperties: false, description: 'RFC 9457 problem details' })
export type Problem = Static<typeof Problem>
