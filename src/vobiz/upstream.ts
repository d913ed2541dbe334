import type { Log as Logger } from '../observability/log.ts'
import type { Clock } from '../clock.ts'
import type { VobizClient } from './client.ts'
import { asUpstreamError, type UpstreamError } from './errors.ts'
import { HoldOff, MemoryHoldOffStore, type BreakerState, type HoldOffStore } from './hold-off.ts'
import { RepeatedFailures } from '../observability/repeats.ts'
import { activeSpan, ATTR, inSpan } from '../observability/tracing.ts'
import type { Span } from '@opentelemetry/api'

export interface UpstreamOptions<T> {
  client: Pick<VobizClient, 'attempt'>
  /** Turns a 200 body into the value (throws an UpstreamError for an unusable one, which is not retried). */
  parse: (raw: unknown) => T
  /** Deadline of one fetch, all attempts and backoff included. */
  timeoutMs: number
  /** Longest a single attempt may take (capped by what is left of the deadline). */
  attemptTimeoutMs: number
  /** Extra attempts after the first, for retryable failures only. */
  retries: number
  /** Consecutive failed fetches that open the breaker. */
  breakerThreshold: number
  /** How long the breaker stays open before one probe is let through. */
  breakerOpenMs: number
  /** Where the breaker and cool-down state lives (default: this process; with Redis, the fleet's). */
  holdOffStore?: HoldOffStore
  logger: Logger
  /** Where the credentials come from, as the operator set them (the variables' names, a file's path), for the line that says Vobiz rejected them. */
  credentialsSource: string
  /** Called once per fetch (for metrics). */
  observe?: FetchObserver
  /** Source of jitter, [0, 1). */
  random?: () => number
  /** Time for deadlines, cool-downs and backoff. */
  clock: Clock
}

/** What the upstream has been doing, for the readiness probe and metrics. */
export interface UpstreamStatus {
  breaker: BreakerState
  /** Until when (ms since epoch) the service holds off after a Vobiz 429, while it does. */
  coolingDownUntil: number | undefined
  lastSuccessAt: number | undefined
  lastError: { code: string, at: number } | undefined
  /** Vobiz's verdict on the partner credentials: `accepted` by the last success, `rejected` by a 401/403 since; `unknown` before either. */
  credentials: CredentialsVerdict
}

export type CredentialsVerdict = 'unknown' | 'accepted' | 'rejected'

/** Hooks for metrics: one call per finished fetch. */
export type FetchObserver = (outcome: string, attempts: number, seconds: number) => void

/** At most one line per this interval about a failure that keeps repeating (e.g. every request while the breaker is open). */
export const REPEAT_LOG_INTERVAL_MS = 30_000
const BASE_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 1000
/** Not worth starting an attempt with less time than this left. */
const MIN_ATTEMPT_MS = 50

/**
 * Vobiz as the cache sees it: one fetch = attempts with retries (exponential backoff, full jitter, Retry-After
 * honoured, all inside the deadline), behind the circuit breaker and the cool-down after a 429 (HoldOff).
 * Only idempotent GETs go through here; 401/403, 500 and unusable bodies are never retried.
 *
 * Traced, a fetch is a `vobiz fetch` span: one `vobiz attempt` child per attempt (each the parent of undici's
 * HTTP client span, whose request carries `traceparent`), the backoff between attempts and the breaker's and
 * cool-down's decisions as events.
 */
export class ResilientUpstream<T> {
  readonly #options: UpstreamOptions<T>
  readonly #holdOff: HoldOff
  readonly #random: () => number
  readonly #clock: Clock
  readonly #status: Omit<UpstreamStatus, 'breaker' | 'coolingDownUntil'> = { lastSuccessAt: undefined, lastError: undefined, credentials: 'unknown' }
  readonly #failures: RepeatedFailures

  constructor (options: UpstreamOptions<T>) {
    this.#options = options
    this.#random = options.random ?? Math.random
    this.#clock = options.clock
    this.#failures = new RepeatedFailures({ intervalMs: REPEAT_LOG_INTERVAL_MS, now: options.clock.now })
    const { logger } = options
    this.#holdOff = new HoldOff({
      store: options.holdOffStore ?? new MemoryHoldOffStore(),
      threshold: options.breakerThreshold,
      openMs: options.breakerOpenMs,
      now: options.clock.now,
      onBreakerChange: (breaker) => {
        activeSpan()?.addEvent(`breaker ${breaker}`)
        ;(breaker === 'open' ? logger.error.bind(logger) : logger.warn.bind(logger))({ breaker }, `vobiz circuit breaker ${breaker}`)
      }
    })
  }

  get status (): Readonly<UpstreamStatus> {
    return { ...this.#status, ...this.#holdOff.status() }
  }

  /** One fetch of the partner profile, parsed, or an UpstreamError. `requestId` is forwarded to Vobiz. */
  async fetch (signal: AbortSignal, requestId?: string): Promise<T> {
    return await inSpan('vobiz fetch', {}, async (span) => await this.#fetch(signal, requestId, span))
  }

  async #fetch (signal: AbortSignal, requestId: string | undefined, span: Span): Promise<T> {
    const started = performance.now()
    const progress = { attempts: 0 }
    try {
      await this.#holdOff.admit()
      let body: T
      try {
        body = await this.#withRetries(signal, progress, requestId, span)
      } catch (err) {
        await this.#holdOff.failed(asUpstreamError(err))
        throw err
      }
      await this.#holdOff.succeeded()
      this.#status.lastSuccessAt = this.#clock.now()
      this.#status.credentials = 'accepted'
      this.#options.observe?.('ok', progress.attempts, (performance.now() - started) / 1000)
      span.setAttribute(ATTR.attempts, progress.attempts)
      const repeats = this.#failures.end()
      this.#options.logger.info({ reqId: requestId, upstream: { outcome: 'ok', status: 200, attempts: progress.attempts, ms: Math.round(performance.now() - started) }, ...(repeats > 0 ? { repeats } : {}) }, 'vobiz fetch')
      return body
    } catch (err) {
      const error = asUpstreamError(err)
      span.setAttribute(ATTR.attempts, progress.attempts)
      // A short circuit sent nothing: the breaker or the cool-down decided.
      if (error.shortCircuit !== undefined) span.addEvent(`refused: ${error.shortCircuit}`)
      this.#failed(error, progress.attempts, performance.now() - started, requestId)
      throw error
    }
  }

  #failed (error: UpstreamError, attempts: number, ms: number, requestId: string | undefined): void {
    if (error.shortCircuit === undefined) this.#status.lastError = { code: error.code, at: this.#clock.now() }
    // Until a fetch succeeds again: another failure (a 5xx, a timeout) says nothing about them.
    if (error.code === 'upstream_auth_failed') this.#status.credentials = 'rejected'
    this.#options.observe?.(error.shortCircuit ?? error.code, attempts, ms / 1000)
    // The same failure again (every request while the breaker is open or a cool-down runs) is counted, not
    // logged each time: the first is logged, then one line per interval with the repeats in between.
    const kind = `${error.shortCircuit ?? error.code}:${error.upstreamStatus ?? ''}:${error.upstreamCode ?? ''}`
    this.#failures.report(kind, (repeats) => {
      const entry = { reqId: requestId, upstream: { outcome: error.code, status: error.upstreamStatus, upstreamCode: error.upstreamCode, attempts, ms: Math.round(ms) }, ...(repeats > 0 ? { repeats } : {}) }
      if (error.code === 'upstream_auth_failed') {
        this.#options.logger.error(entry, `vobiz rejected the partner credentials: check ${this.#options.credentialsSource}`)
      } else {
        this.#options.logger.warn(entry, `vobiz fetch failed: ${error.message}`)
      }
    })
  }

  async #withRetries (signal: AbortSignal, progress: { attempts: number }, requestId: string | undefined, span: Span): Promise<T> {
    const { parse, timeoutMs, attemptTimeoutMs, retries } = this.#options
    const clock = this.#clock
    const deadlineAt = clock.now() + timeoutMs
    for (;;) {
      progress.attempts += 1
      try {
        // Whole milliseconds: timers take integers, and a clock may not give them.
        return parse(await this.#attempt(signal, progress.attempts, Math.floor(Math.min(attemptTimeoutMs, deadlineAt - clock.now())), requestId))
      } catch (err) {
        const error = asUpstreamError(err)
        if (!error.retryable || progress.attempts > retries) throw error
        // Full jitter: anywhere from 0 to the exponential step; never sooner than Vobiz's Retry-After.
        const backoff = this.#random() * Math.min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** (progress.attempts - 1))
        const delay = Math.max(backoff, (error.retryAfterSeconds ?? 0) * 1000)
        if (clock.now() + delay + MIN_ATTEMPT_MS > deadlineAt) throw error
        span.addEvent('backoff', { 'vobiz_bff.backoff_ms': Math.round(delay), 'vobiz_bff.after': error.code, ...(error.retryAfterSeconds === undefined ? {} : { 'vobiz_bff.retry_after_seconds': error.retryAfterSeconds }) })
        await clock.sleep(delay, signal).catch(() => { throw error })
      }
    }
  }

  /** One HTTP request to Vobiz, in its own span (`http.request.resend_count`: 0 for the first). */
  async #attempt (signal: AbortSignal, attempt: number, timeoutMs: number, requestId: string | undefined): Promise<unknown> {
    return await inSpan('vobiz attempt', { [ATTR.attempt]: attempt, [ATTR.resendCount]: attempt - 1 }, async (span) => {
      try {
        const raw = await this.#options.client.attempt(signal, timeoutMs, requestId)
        span.setAttribute(ATTR.statusCode, 200)
        return raw
      } catch (err) {
        const error = asUpstreamError(err)
        if (error.upstreamStatus !== undefined) span.setAttribute(ATTR.statusCode, error.upstreamStatus)
        throw error
      }
    })
  }
}
