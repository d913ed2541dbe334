import { setTimeout as wait } from 'node:timers/promises'

/**
 * The service's notion of time: what it reads to judge freshness, deadlines and cool-downs, and how it waits
 * between retries. One object, so that tests can move time forward instead of waiting for it.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
  /** Resolves after `ms`; rejects when `signal` aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>
}

export const systemClock: Clock = {
  now: Date.now,
  sleep: async (ms, signal) => { await wait(ms, undefined, signal === undefined ? undefined : { signal }) }
}

/** Seconds (as configured) in milliseconds (as the clock counts). */
export function secondsToMs (seconds: number): number {
  return seconds * 1000
}
