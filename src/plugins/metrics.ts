import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { LogSink } from '../observability/log-sink.ts'
import { Metrics } from '../observability/metrics.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The service's Prometheus metrics; components attach what they report with `metrics.watch()`. */
    metrics: Metrics
  }
}

export interface MetricsPluginOptions {
  /** The replica shares state through Redis (REDIS_URL): the fleet's metrics exist. */
  fleet: boolean
  /** Tracing is on: the trace export metrics exist. */
  tracing: boolean
  sink: Pick<LogSink, 'dropped' | 'pending'>
}

/** First of the services: every other one reports to it. */
async function metrics (app: FastifyInstance, { fleet, tracing, sink }: MetricsPluginOptions): Promise<void> {
  const metrics = new Metrics({ fleet, tracing })
  metrics.watch({ logLinesDropped: () => sink.dropped, logBufferBytes: () => sink.pending })
  app.decorate('metrics', metrics)
}

export default fp(metrics, { name: 'metrics', fastify: '5.x' })
