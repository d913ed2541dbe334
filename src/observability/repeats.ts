/**
 * Keeps a failure that repeats from flooding the log: the first of its kind is logged at once, repeats are
 * counted, and at most one line per interval carries the count of those not logged (`repeats`). A different
 * failure is new and is logged at once; `end()` closes the run when things work again.
 */
export class RepeatedFailures {
  readonly #intervalMs: number
  readonly #now: () => number
  #kind: string | undefined
  #lastLoggedAt = 0
  #repeats = 0

  constructor (options: { intervalMs: number, now: () => number }) {
    this.#intervalMs = options.intervalMs
    this.#now = options.now
  }

  /** Calls `log` with the number of repeats not logged since the last line, or counts this one as a repeat. */
  report (kind: string, log: (repeats: number) => void): void {
    const now = this.#now()
    if (kind === this.#kind && now - this.#lastLoggedAt < this.#intervalMs) {
      this.#repeats += 1
      return
    }
    const repeats = this.#repeats
    this.#kind = kind
    this.#lastLoggedAt = now
    this.#repeats = 0
    log(repeats)
  }

  /** The failures are over: returns the repeats not logged yet (for the line saying so). */
  end (): number {
    const repeats = this.#repeats
    this.#kind = undefined
    this.#repeats = 0
    return repeats
  }
}
