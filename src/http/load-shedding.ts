import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { liveHeapWithin, type LiveHeapOptions } from '../observability/live-heap.ts'
import { ProblemError } from './problems.ts'

const OVERLOAD_RETRY_AFTER_SECONDS = 5
/**
 * While the live heap stays over MAX_HEAP_USED_BYTES, at most one full collection per this many ms: shedding
 * ends within this (plus one sample interval) of the load going. Garbage alone is collected at the first
 * sample that finds the heap over the limit, and never shed for.
 */
export const HEAP_RECHECK_MS = 2000

/** What @fastify/under-pressure throws when shedding load: a 503 problem with Retry-After. */
class Overloaded extends ProblemError {
  constructor () {
    super('service_unavailable', 'The service is overloaded. Retry after the time given in Retry-After.', { 'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS) })
  }
}

/** The `reason` label of a request shed for under-pressure's check `type` (only these two are configured). */
export function shedReason (type: string): 'event_loop_delay' | 'heap' {
  return type === underPressure.TYPE_EVENT_LOOP_DELAY ? 'event_loop_delay' : 'heap'
}

export interface LoadSheddingOptions {
  /** Event-loop delay past which requests are shed (0: off). */
  maxEventLoopDelayMs: number
  /** Live heap past which requests are shed (0: off). */
  maxHeapUsedBytes: number
  /** How often event-loop delay and heap are sampled. */
  sampleIntervalMs: number
  /** How the heap is read and collected (default: V8's); tests pass their own. */
  heap?: Pick<LiveHeapOptions, 'used' | 'collect' | 'now'>
}

/**
 * @fastify/under-pressure: 503 problem+json with Retry-After past the event-loop delay or heap limits (probes
 * exempt), each counted in `vobiz_bff_requests_shed_total{reason}`. The heap limit is on the live heap (src/observability/live-heap.ts), checked as under-pressure's
 * health check on the same interval, not on under-pressure's own heapUsed sample: that one counts garbage V8
 * has not collected yet, and stays high after the load is gone.
 */
async function loadShedding (app: FastifyInstance, options: LoadSheddingOptions): Promise<void> {
  const log = app.log.child({ component: 'load-shedding' })
  const limit = options.maxHeapUsedBytes
  const heapWithin = limit === 0
    ? undefined
    : liveHeapWithin({
      ...options.heap,
      limit,
      recheckMs: HEAP_RECHECK_MS,
      onChange: (over, used) => {
        if (over) log.warn({ heapUsed: used, limit }, 'live heap over MAX_HEAP_USED_BYTES after a full collection: shedding requests with 503')
        else log.info({ heapUsed: used, limit }, 'heap back under MAX_HEAP_USED_BYTES: no longer shedding')
      }
    })
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    sampleInterval: options.sampleIntervalMs,
    // Every request shed is counted by its reason, then answered 503.
    pressureHandler: async (_request, _reply, type) => {
      app.metrics.requestsShed.inc({ reason: shedReason(type) })
      throw new Overloaded()
    },
    ...(heapWithin === undefined ? {} : { healthCheck: async () => heapWithin(), healthCheckInterval: options.sampleIntervalMs })
  })
}

export default fp(loadShedding, { name: 'load-shedding', fastify: '5.x', dependencies: ['metrics'] })
