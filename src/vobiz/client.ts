import { Pool, errors as undiciErrors } from 'undici'
import { UpstreamError } from './errors.ts'
import { codeOf, messageOf } from '../caught.ts'

export const PARTNER_ME_PATH = '/api/v1/partner/me'

export interface VobizClientOptions {
  baseUrl: string
  authId: string
  authToken: string
  /** Longest one attempt may take: connect, headers and body together. */
  attemptTimeoutMs: number
  maxBodyBytes: number
  /** The longest a Retry-After from Vobiz is honoured, in seconds (UPSTREAM_MAX_RETRY_AFTER_SECONDS). */
  maxRetryAfterSeconds: number
}

/** Retry-After used when Vobiz sends 429 without one (or with one that cannot be read). */
const DEFAULT_RETRY_AFTER_SECONDS = 5

/**
 * Seconds from a Retry-After value (delta-seconds or HTTP-date, RFC 9110 §10.2.3), clamped to [1, max]: one
 * 429 must not silence the service for longer than the operator allows.
 */
export function parseRetryAfter (value: string | string[] | undefined, max: number, now = Date.now()): number {
  const text = Array.isArray(value) ? value[0] : value
  let seconds = DEFAULT_RETRY_AFTER_SECONDS
  if (text !== undefined && /^\d+$/.test(text.trim())) {
    seconds = Number(text.trim())
  } else if (text !== undefined && !Number.isNaN(Date.parse(text))) {
    seconds = Math.ceil((Date.parse(text) - now) / 1000)
  }
  return Math.min(Math.max(seconds, 1), max)
}

/**
 * The error codes Vobiz is known to send. Only these (or `HTTP_<status>`) are copied from an error body into a
 * log line, in upper case: a value that merely looks like a code may be a credential Vobiz echoed back.
 */
const KNOWN_UPSTREAM_CODES = new Set([
  'BAD_REQUEST', 'VALIDATION_ERROR', 'INVALID_REQUEST',
  'UNAUTHORIZED', 'UNAUTHENTICATED', 'INVALID_CREDENTIALS', 'INVALID_AUTH', 'AUTHENTICATION_FAILED', 'TOKEN_EXPIRED',
  'FORBIDDEN', 'PERMISSION_DENIED', 'ACCOUNT_SUSPENDED', 'ACCOUNT_DISABLED',
  'NOT_FOUND', 'METHOD_NOT_ALLOWED',
  'RATE_LIMITED', 'RATE_LIMIT_EXCEEDED', 'TOO_MANY_REQUESTS',
  'INTERNAL_ERROR', 'INTERNAL_SERVER_ERROR', 'SERVER_ERROR', 'BAD_GATEWAY', 'SERVICE_UNAVAILABLE', 'GATEWAY_TIMEOUT', 'MAINTENANCE'
])

/**
 * Reads the machine code out of any of Vobiz's documented error bodies — nested
 * `{"status":"error","error":{"code"}}`, flat `{"error":"code"}` or Plivo-style `{"api_id","error"}` —
 * keeping it only when it is a known code (KNOWN_UPSTREAM_CODES or HTTP_<status>), so nothing else Vobiz
 * sent reaches the logs.
 */
export function upstreamErrorCode (body: string): string | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const error = (parsed as Record<string, unknown>).error
  // `{ error: { code } }` or `{ error: code }`.
  const code = codeOf(error) ?? error
  if (typeof code !== 'string') return undefined
  const upper = code.toUpperCase()
  return KNOWN_UPSTREAM_CODES.has(upper) || /^HTTP_[1-5]\d\d$/.test(upper) ? upper : undefined
}

/** Drops a response body we will not read. undici emits 'error' on destroy: without a listener that would crash the process. */
function discard (body: NodeJS.ReadableStream & { destroy: () => void }): void {
  body.on('error', () => {})
  body.destroy()
}

async function readCapped (body: AsyncIterable<Buffer>, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > limit) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The Vobiz partner API over one keep-alive undici Pool. Knows nothing of HTTP serving or caching: one call,
 * one request to /api/v1/partner/me, returning the parsed JSON or throwing an UpstreamError. Retries, the
 * breaker and the 429 cool-down are upstream.ts's.
 */
export class VobizClient {
  readonly #pool: Pool
  readonly #path: string
  #headers: Record<string, string>
  readonly #maxBodyBytes: number
  readonly #maxRetryAfterSeconds: number

  constructor (options: VobizClientOptions) {
    const base = new URL(options.baseUrl)
    this.#path = base.pathname.replace(/\/+$/, '') + PARTNER_ME_PATH
    this.#maxBodyBytes = options.maxBodyBytes
    this.#maxRetryAfterSeconds = options.maxRetryAfterSeconds
    this.#headers = {
      'x-auth-id': options.authId,
      'x-auth-token': options.authToken,
      accept: 'application/json',
      'user-agent': 'vobiz-partner-bff'
    }
    this.#pool = new Pool(base.origin, {
      connections: 4,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: options.attemptTimeoutMs,
      headersTimeout: options.attemptTimeoutMs,
      bodyTimeout: options.attemptTimeoutMs
    })
  }

  /** New partner credentials, for the next attempt; an attempt in flight finishes with the ones it was sent with. */
  setCredentials ({ authId, authToken }: { authId: string, authToken: string }): void {
    this.#headers = { ...this.#headers, 'x-auth-id': authId, 'x-auth-token': authToken }
  }

  /**
   * One attempt at GET /api/v1/partner/me → parsed JSON body, within `timeoutMs` (connect, headers and body)
   * and `signal`. Failures are UpstreamErrors, marked retryable when another attempt could succeed.
   */
  async attempt (signal: AbortSignal, timeoutMs: number, requestId?: string): Promise<unknown> {
    const deadline = AbortSignal.timeout(timeoutMs)
    const state = { headers: false }
    const headers = requestId === undefined ? this.#headers : { ...this.#headers, 'x-request-id': requestId }
    try {
      return await this.#fetch(AbortSignal.any([signal, deadline]), state, headers)
    } catch (err) {
      throw this.#classify(err, deadline, signal, state.headers, timeoutMs)
    }
  }

  async #fetch (signal: AbortSignal, state: { headers: boolean }, headers: Record<string, string>): Promise<unknown> {
    const response = await this.#pool.request({ method: 'GET', path: this.#path, headers, signal })
    state.headers = true
    const { statusCode } = response
    const declared = Number(response.headers['content-length'])
    if (declared > this.#maxBodyBytes) {
      discard(response.body)
      throw new UpstreamError('upstream_invalid_response', `response body of ${declared} bytes exceeds the ${this.#maxBodyBytes}-byte cap`, { upstreamStatus: statusCode })
    }
    const text = await readCapped(response.body, this.#maxBodyBytes)
    if (text === undefined) {
      discard(response.body)
      throw new UpstreamError('upstream_invalid_response', `response body exceeds the ${this.#maxBodyBytes}-byte cap`, { upstreamStatus: statusCode })
    }

    if (statusCode === 200) {
      try {
        return JSON.parse(text)
      } catch {
        throw new UpstreamError('upstream_invalid_response', 'response body is not valid JSON', { upstreamStatus: statusCode })
      }
    }
    const details = { upstreamStatus: statusCode, upstreamCode: upstreamErrorCode(text) }
    if (statusCode === 401 || statusCode === 403) {
      throw new UpstreamError('upstream_auth_failed', `vobiz answered ${statusCode}`, details)
    }
    const retryAfter = response.headers['retry-after']
    if (statusCode === 429) {
      const retryAfterSeconds = parseRetryAfter(retryAfter, this.#maxRetryAfterSeconds)
      throw new UpstreamError('upstream_rate_limited', `vobiz answered 429 (retry after ${retryAfterSeconds}s)`, { ...details, retryAfterSeconds, retryable: true })
    }
    const retryable = statusCode === 502 || statusCode === 503 || statusCode === 504
    const retryAfterSeconds = retryable && retryAfter !== undefined ? parseRetryAfter(retryAfter, this.#maxRetryAfterSeconds) : undefined
    throw new UpstreamError('upstream_unavailable', `vobiz answered ${statusCode}`, { ...details, retryable, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) })
  }

  #classify (err: unknown, deadline: AbortSignal, signal: AbortSignal, headers: boolean, timeoutMs: number): UpstreamError {
    if (err instanceof UpstreamError) return err
    if (signal.aborted) {
      return new UpstreamError('upstream_unavailable', 'fetch aborted', { cause: err })
    }
    if (deadline.aborted ||
        err instanceof undiciErrors.HeadersTimeoutError ||
        err instanceof undiciErrors.BodyTimeoutError ||
        err instanceof undiciErrors.ConnectTimeoutError) {
      // A timeout before the response headers may be retried; one mid-body may not (Vobiz answered, slowly).
      return new UpstreamError('upstream_timeout', `no complete answer within ${timeoutMs} ms`, { cause: err, retryable: !headers })
    }
    // undici's connection error messages name the socket problem and address, never headers.
    return new UpstreamError('upstream_unavailable', `connection failed: ${messageOf(err)}`, { cause: err, retryable: true })
  }

  async close (): Promise<void> {
    await this.#pool.close()
  }
}
