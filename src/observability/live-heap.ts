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
  /**
   * While a collection has found the live heap over the limit, the next one waits this many ms (each is a pause,
   * and the verdict is already known). After one that found garbage only, the next over-limit figure is
   * collected at once: it is more garbage, and letting it grow would let RSS grow with it.
   */
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
 * strings and promises) the figure stays where the burst left it, however idle the process is — 18–28 s here,
 * 45 s and more in an outside review. Judged on that figure alone, a process shed load for garbage, and kept
 * shedding after the load was gone. So a figure over the limit is checked with one full collection (see
 * `recheckMs` for how often), and the verdict is what remains — so garbage also never grows far past the limit between V8's own
 * collections (the Kubernetes deployment's 384 MiB memory limit counts it). Called once per sample interval
 * (one second by default), so at most one collection per interval; under the limit nothing is collected and
 * the check costs one V8 call.
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
    // Over, and a recent collection found live data over the limit: that verdict stands until the next may run.
    if (!within && now() - collectedAt < recheckMs) return false
    collect()
    collectedAt = now()
    const after = used()
    return decide(after <= limit, after)
  }
}
