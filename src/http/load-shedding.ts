import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { ProblemError } from './problems.ts'

const OVERLOAD_RETRY_AFTER_SECONDS = 5

/** What @fastify/under-pressure throws when shedding load: a 503 problem with Retry-After. */
class Overloaded extends ProblemError {
  constructor () {
    super('service_unavailable', 'The service is overloaded. Retry after the time given in Retry-After.', { 'retry-after': String(OVERLOAD_RETRY_AFTER_SECONDS) })
  }
}

export interface LoadSheddingOptions {
  /** Event-loop delay past which requests are shed (0: off). */
  maxEventLoopDelayMs: number
  /** Heap use past which requests are shed (0: off). */
  maxHeapUsedBytes: number
  /** How often event-loop delay and heap are sampled. */
  sampleIntervalMs: number
}

/** @fastify/under-pressure: 503 problem+json with Retry-After past the event-loop delay or heap limits (probes exempt). */
async function loadShedding (app: FastifyInstance, options: LoadSheddingOptions): Promise<void> {
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxHeapUsedBytes: options.maxHeapUsedBytes,
    retryAfter: OVERLOAD_RETRY_AFTER_SECONDS,
    sampleInterval: options.sampleIntervalMs,
    customError: Overloaded
  })
}

export default fp(loadShedding, { name: 'load-shedding', fastify: '5.x' })
