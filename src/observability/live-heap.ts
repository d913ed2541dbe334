import { getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * V8's full collection, as `node --expose-gc` would expose it, without starting node with that flag: the flag
 * is set for one new context, its `gc` taken, and the flag cleared again (jest-leak-detector obtains it the
 * same way). A process started with `--expose-gc` already has it.
 */
export function fullCollection (): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString('--expose-gc')
  try {
    return runInNewContext('gc') as () => void
  } finally {
    setFlagsFromString('--no-expose-gc')
  }
}

export interface LiveHeapOptions {
  /** Bytes of live heap past which the answer is "over" (MAX_HEAP_USED_BYTES). */
  limit: number
  /** At most one full collection per this many ms: the pause it costs, while the heap looks over the limit. */
  recheckMs: number
  /** Monotonic ms (default performance.now). */
  now?: () => number
  /** The heap in use now, garbage included (default V8's used_heap_size: process.memoryUsage().heapUsed without reading /proc). */
  used?: () => number
  /** A full collection (default fullCollection()). */
  collect?: () => void
  /** Told each change of verdict, with the heap in use after the collection that decided it. */
  onChange?: (over: boolean, used: number) => void
}

/**
 * Whether the *live* heap is within `limit`. The heap in use that V8 reports counts garbage until V8 collects
 * its old generation, and V8 does that when the old generation grows, not when time passes: after a burst
 * (thousands of event streams, each change event fanned out to all of them, promotes megabytes of short-lived
 * strings and promises) the figure stays where the burst left it, however idle the process is — for a minute
 * or more, measured. Judged on that figure alone, a process shed load for garbage, and kept shedding after the
 * load was gone. So a figure over the limit is checked: one full collection (at most every `recheckMs`), and
 * the verdict is what remains. Under the limit nothing is collected and the check costs one V8 call.
 */
export function liveHeapWithin (options: LiveHeapOptions): () => boolean {
  const { limit, recheckMs, now = () => performance.now(), used = () => getHeapStatistics().used_heap_size, onChange } = options
  const collect = options.collect ?? fullCollection()
  let within = true
  let collectedAt = -Infinity
  const decide = (verdict: boolean, bytes: number): boolean => {
    if (verdict !== within) onChange?.(!verdict, bytes)
    within = verdict
    return verdict
  }
  return function heapWithin () {
    const before = used()
    if (before <= limit) return decide(true, before)
    // Over, and collected recently: the last collection's verdict stands until the next one may run.
    if (now() - collectedAt < recheckMs) return within
    collect()
    collectedAt = now()
    const after = used()
    return decide(after <= limit, after)
  }
}
