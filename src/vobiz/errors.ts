/** How a fetch from Vobiz failed; each code maps to one problem response at the HTTP edge. */
export type UpstreamErrorCode =
  | 'upstream_timeout'
  | 'upstream_unavailable'
  | 'upstream_auth_failed'
  | 'upstream_rate_limited'
  | 'upstream_invalid_response'

export interface UpstreamErrorDetails {
  /** HTTP status Vobiz answered with, when it answered. */
  upstreamStatus?: number
  /** Machine code from Vobiz's error body (sanitised), for logs only. */
  upstreamCode?: string
  /** Seconds to wait before trying again (upstream 429). */
  retryAfterSeconds?: number
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

  constructor (code: UpstreamErrorCode, message: string, details: UpstreamErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'UpstreamError'
    this.code = code
    this.upstreamStatus = details.upstreamStatus
    this.upstreamCode = details.upstreamCode
    this.retryAfterSeconds = details.retryAfterSeconds
  }
}
