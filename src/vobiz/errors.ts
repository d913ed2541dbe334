/** How a fetch from Vobiz failed; each code maps to one problem response at the HTTP edge. */
export const UPSTREAM_ERROR_CODES = ['upstream_timeout', 'upstream_unavailable', 'upstream_auth_failed', 'upstream_rate_limited', 'upstream_invalid_response'] as const
export type UpstreamErrorCode = typeof UPSTREAM_ERROR_CODES[number]

/** Why no request was sent. */
export const SHORT_CIRCUITS = ['breaker-open', 'cooling-down'] as const
export type ShortCircuit = typeof SHORT_CIRCUITS[number]

export interface UpstreamErrorDetails {
  /** HTTP status Vobiz answered with, when it answered. */
  upstreamStatus?: number
  /** Machine code from Vobiz's error body (sanitised), for logs only. */
  upstreamCode?: string
  /** Seconds to wait before trying again (upstream 429, an open breaker, a cool-down). */
  retryAfterSeconds?: number
  /** Worth another attempt: a connection failure, a timeout before response headers, 429, 502, 503 or 504. */
  retryable?: boolean
  /** Set when no request was sent: the circuit breaker is open, or the service is cooling down after a 429. */
  shortCircuit?: ShortCircuit
  cause?: unknown
}

/**
 * A failed upstream fetch. Its message is written for operators' logs and never contains
 * credentials or upstream error text; consumers see only the mapped problem.
 */
export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode
  readonly upstreamStatus: number | undefined
  readonly upstreamCode: string | undefined
  readonly retryAfterSeconds: number | undefined
  readonly retryable: boolean
  readonly shortCircuit: ShortCircuit | undefined

  constructor (code: UpstreamErrorCode, message: string, details: UpstreamErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'UpstreamError'
    this.code = code
    this.upstreamStatus = details.upstreamStatus
    this.upstreamCode = details.upstreamCode
    this.retryAfterSeconds = details.retryAfterSeconds
    this.retryable = details.retryable ?? false
    this.shortCircuit = details.shortCircuit
  }
}

/**
 * Any thrown value as an UpstreamError: itself, or — for a bug or anything else unexpected — an
 * `upstream_unavailable` carrying it as the cause, so that error paths never handle a value without a code.
 */
export function asUpstreamError (error: unknown): UpstreamError {
  if (error instanceof UpstreamError) return error
  return new UpstreamError('upstream_unavailable', `unexpected failure: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
}

/** Whether a failure counts towards opening the circuit breaker: Vobiz failed (not a 429, not a short circuit). */
export function breaksCircuit (error: UpstreamError): boolean {
  return error.shortCircuit === undefined && error.code !== 'upstream_rate_limited'
}

/** How long to hold off Vobiz after a failure: after a 429 it sent, its Retry-After (1 s without one); else 0. */
export function coolDownMs (error: UpstreamError): number {
  return error.shortCircuit === undefined && error.code === 'upstream_rate_limited' ? (error.retryAfterSeconds ?? 1) * 1000 : 0
}
