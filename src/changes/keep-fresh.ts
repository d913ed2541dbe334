import { setTimeout as sleep } from 'node:timers/promises'

export interface KeepFreshOptions {
  /** Brings the profile up to date: the cache's get, so one fetch per freshness period at most, single-flight. */
  refresh: () => Promise<unknown>
  /** How often: the freshness period of what subscribers are told (the balance's). */
  periodMs: number
  /**
   * With Redis: whether this replica is the fleet's poller now (a lease, renewed each period, taken over when
   * its holder dies), and the way to hand it over when nobody here listens any more. Without: always.
   */
  leadership?: { lead: () => Promise<boolean>, resign: () => Promise<unknown> }
}

/**
 * While anyone listens for changes, the profile is kept fresh without waiting for a request to ask: every
 * period (on the process's timers), the cache is asked for it, and a change is seen within one period of its
 * fetch. The cache decides whether that is a fetch (so there are never more Vobiz calls than one per period,
 * through the same single-flight, breaker and cool-down); a failure is the upstream's to log. Nobody
 * listening: nothing runs. In a fleet, one replica with listeners polls for all (`leadership`); the others'
 * subscribers hear its changes through the fleet's stream.
 */
export class KeepFresh {
  readonly #options: KeepFreshOptions
  #holders = 0
  #stop: AbortController | undefined

  constructor (options: KeepFreshOptions) {
    this.#options = options
  }

  /** How many listen now: open streams, and the webhook deliverers while any endpoint is configured. */
  get holders (): number {
    return this.#holders
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
      if (this.#holders === 0) {
        this.#stop?.abort()
        // Never rejects (the lease expires by itself if Redis is unusable).
        this.#options.leadership?.resign()
      }
    }
  }

  async #run (signal: AbortSignal): Promise<void> {
    const { refresh, periodMs, leadership } = this.#options
    while (!signal.aborted) {
      try {
        // Unreferenced: a listener never keeps the process alive on its own.
        await sleep(periodMs, undefined, { signal, ref: false })
        // Let go while the timer fired: no refresh after the last holder has gone.
        signal.throwIfAborted()
        if (leadership === undefined || await leadership.lead()) await refresh()
      } catch {}
    }
  }
}
