import type { FastifyBaseLogger } from 'fastify'
import { codeOf } from '../caught.ts'

/**
 * process.memoryUsage() reads /proc/self/stat, so it throws (EMFILE) when the process is out of file
 * descriptors — and @fastify/under-pressure calls it from a timer, where a throw would end the process. This
 * wraps it once per process: on failure it returns the last good sample and logs once, and once more when
 * sampling works again. Sampling is only degraded; nothing stops.
 */
export function guardMemoryUsage (log: FastifyBaseLogger): void {
  const original = process.memoryUsage
  if ((original as { guarded?: true }).guarded === true) return
  let last: NodeJS.MemoryUsage = original()
  let failing = false
  const guarded = Object.assign(() => {
    try {
      last = original()
      if (failing) log.info('memory sampling works again')
      failing = false
    } catch (err) {
      if (!failing) log.error({ code: codeOf(err) }, 'memory sampling failed (out of file descriptors?): using the last sample until it works again')
      failing = true
    }
    return last
  }, { rss: () => guarded().rss, guarded: true as const })
  process.memoryUsage = guarded as unknown as typeof process.memoryUsage
}
