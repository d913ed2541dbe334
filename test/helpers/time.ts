import FakeTimers from '@sinonjs/fake-timers'
import type { Test } from 'tap'
import type { Clock } from '../../src/clock.ts'

/**
 * The tests' time. A movable clock stands still unless the test moves it: ages, freshness left, cool-downs
 * and deadlines are what the test set, however busy the machine is. Its `sleep` (the upstream's backoff)
 * moves the clock by the delay and returns at once, and remembers each delay for the test to check.
 */
export interface MovableClock extends Clock {
  advance: (ms: number) => void
  /** Every delay slept, in order. */
  readonly slept: number[]
}

/**
 * A clock frozen at the current time. With `t`, the global Date is frozen and moved with it until `t` ends,
 * for libraries that read Date.now() themselves (cockatiel's circuit breaker, jose, the rate-limit windows).
 */
export function movableClock (t?: Test): MovableClock {
  const date = t === undefined ? undefined : FakeTimers.install({ toFake: ['Date'], now: Date.now() })
  if (date !== undefined) t!.teardown(() => { date.uninstall() })
  let at = Date.now()
  const slept: number[] = []
  const advance = (ms: number): void => {
    at += ms
    date?.tick(ms)
  }
  return {
    now: () => at,
    advance,
    slept,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted()
      slept.push(ms)
      advance(ms)
    }
  }
}

/**
 * Waits for a condition the test cannot be told about directly (a background fetch finishing, a sample
 * taken), checking it every few milliseconds; fails naming `what` after a generous deadline. Never a timing
 * assertion: the deadline only turns a hang into a clear failure.
 */
export async function until (what: string, check: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms
  while (!await check()) {
    if (performance.now() > deadline) throw new Error(`gave up after ${ms / 1000} s waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
