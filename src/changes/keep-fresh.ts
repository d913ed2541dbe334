import { setTimeout as sleep } from 'node:timers/promises'

export interface KeepFreshOptions {
  /** Brings the profile up to date: the cache's get, so one fetch per freshness period at most, single-flight. */
  refresh: () => Promise<unknown>
  /** How often: the freshness period of what subscribers are told (the balance's). */
  periodMs: number
}

/**
 * While anyone listens for changes, the profile is kept fresh without waiting for a request to ask: every
 * period (on the process's timers), the cache is asked for it, and a change is seen within one period of its
 * fetch. The cache decides whether that is a fetch (so there are never more Vobiz calls than one per period,
 * through the same single-flight, breaker and cool-down); a failure is the upstream's to log. Nobody
 * listening: nothing runs.
 */
export class KeepFresh {
  readonly #options: KeepFreshOptions
  #holders = 0
  #stop: AbortController | undefined

  constructor (options: KeepFreshOptions) {
    this.#options = options
  }

  /** Someone listens, until the function returned is called (calling it again changes nothing). */
  hold (): () => void {
    this.#holders++
    if (this.#holders === 1) {
      this.#stop = new AbortController()
      this.#run(this.#stop.signal).catch(() => {})
    }
    let released = false
    return () => {
      if (released) return
      released = true
      this.#holders--
      if (this.#holders === 0) this.#stop?.abort()
    }
  }

  async #run (signal: AbortSignal): Promise<void> {
    const { refresh, periodMs } = this.#options
    while (!signal.aborted) {
      try {
        // Unreferenced: a listener never keeps the process alive on its own.
        await sleep(periodMs, undefined, { signal, ref: false })
        // Let go while the timer fired: no refresh after the last holder has gone.
        signal.throwIfAborted()
        await refresh()
      } catch {}
    }
  }
}
