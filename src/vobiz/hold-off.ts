import { breaksCircuit, coolDownMs, UpstreamError } from './errors.ts'

export const BREAKER_STATES = ['closed', 'half-open', 'open'] as const
export type BreakerState = typeof BREAKER_STATES[number]

/**
 * When the service holds off Vobiz: the circuit breaker's count and open period, and the cool-down after a
 * Vobiz 429. Times are ms since the epoch (0: not set). Plain data, so that a fleet can keep it in Redis.
 */
export interface HoldOffState {
  /** Consecutive fetches that failed in a way that counts against Vobiz (see breaksCircuit). */
  failures: number
  /** The breaker is open until then; past it, with failures still at the threshold, it is half-open. */
  openUntil: number
  /** No request before then (Vobiz's Retry-After). */
  coolingDownUntil: number
}

export const CLEAR: Readonly<HoldOffState> = Object.freeze({ failures: 0, openUntil: 0, coolingDownUntil: 0 })

/**
 * Where the state lives: this process (MemoryHoldOffStore), or Redis for the whole fleet
 * (src/redis/hold-off-store.ts), which keeps the last state it saw for when Redis is unusable.
 */
export interface HoldOffStore {
  read: () => HoldOffState | Promise<HoldOffState>
  write: (state: HoldOffState) => void | Promise<void>
}

export class MemoryHoldOffStore implements HoldOffStore {
  #state: HoldOffState = CLEAR
  read (): HoldOffState { return this.#state }
  write (state: HoldOffState): void { this.#state = state }
}

export interface HoldOffOptions {
  store: HoldOffStore
  /** Consecutive failed fetches that open the breaker. */
  threshold: number
  /** How long the breaker stays open before one probe is let through. */
  openMs: number
  now: () => number
  /** Called when the breaker state this replica sees changes (for the log). */
  onBreakerChange: (state: BreakerState) => void
}

/**
 * The one breaker and cool-down in front of Vobiz (docs/adr/0001-one-breaker.md). Before each fetch
 * `admit()` reads the state and throws the short circuit when no request may go out: cooling down after a
 * 429, or the breaker open (or half-open with this replica's probe in flight). After the fetch, `succeeded()`
 * closes the breaker and `failed()` counts the failure (opening the breaker at the threshold, and again at
 * once after a failed probe) or starts the cool-down after a 429. The rules live here only; where the state
 * lives is the store's business.
 */
export class HoldOff {
  readonly #options: HoldOffOptions
  /** The state as of the last read or write, for status() without I/O. */
  #seen: HoldOffState = CLEAR
  #breaker: BreakerState = 'closed'
  #probing = false

  constructor (options: HoldOffOptions) {
    this.#options = options
  }

  /** The breaker and cool-down as this replica last saw them. */
  status (): { breaker: BreakerState, coolingDownUntil: number | undefined } {
    const { coolingDownUntil } = this.#seen
    return { breaker: this.#breaker, coolingDownUntil: coolingDownUntil > this.#options.now() ? coolingDownUntil : undefined }
  }

  /** Resolves when a request may go to Vobiz now; otherwise throws the short circuit as an UpstreamError. */
  async admit (): Promise<void> {
    const state = this.#see(await this.#options.store.read())
    const now = this.#options.now()
    if (now < state.coolingDownUntil) {
      throw new UpstreamError('upstream_rate_limited', 'holding off after a Vobiz 429', {
        retryAfterSeconds: Math.ceil((state.coolingDownUntil - now) / 1000),
        shortCircuit: 'cooling-down'
      })
    }
    if (now < state.openUntil || (this.#breaker === 'half-open' && this.#probing)) {
      throw new UpstreamError('upstream_unavailable', 'the circuit breaker is open', {
        // What is left of the open period; behind a probe in flight, a whole period (should the probe fail).
        retryAfterSeconds: Math.max(1, Math.ceil((now < state.openUntil ? state.openUntil - now : this.#options.openMs) / 1000)),
        shortCircuit: 'breaker-open'
      })
    }
    this.#probing = this.#breaker === 'half-open'
  }

  async succeeded (): Promise<void> {
    this.#probing = false
    // Nothing counted (the breaker opens only past failures): nothing to clear.
    if (this.#seen.failures === 0) return
    await this.#write({ ...CLEAR, coolingDownUntil: this.#seen.coolingDownUntil })
  }

  async failed (error: UpstreamError): Promise<void> {
    this.#probing = false
    const now = this.#options.now()
    const holdOffMs = coolDownMs(error)
    if (holdOffMs > 0) {
      await this.#write({ ...this.#seen, coolingDownUntil: now + holdOffMs })
    } else if (breaksCircuit(error)) {
      const failures = this.#seen.failures + 1
      await this.#write({ ...this.#seen, failures, openUntil: failures >= this.#options.threshold ? now + this.#options.openMs : this.#seen.openUntil })
    }
  }

  async #write (state: HoldOffState): Promise<void> {
    this.#see(state)
    await this.#options.store.write(state)
  }

  /** Records what the store holds and reports a change of the breaker's state. */
  #see (state: HoldOffState): HoldOffState {
    this.#seen = state
    const breaker: BreakerState = state.failures < this.#options.threshold ? 'closed' : this.#options.now() < state.openUntil ? 'open' : 'half-open'
    if (breaker !== this.#breaker) {
      this.#breaker = breaker
      this.#options.onBreakerChange(breaker)
    }
    return state
  }
}
