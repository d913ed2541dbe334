import type { Env } from './config.ts'
import type { TracingSettings } from './observability/tracing.ts'

/** The OpenTelemetry variables of the environment contract (src/config.ts), as validated there. */
export type TracingEnv = Pick<Env, 'OTEL_SDK_DISABLED' | 'OTEL_TRACES_EXPORTER' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' |
'OTEL_EXPORTER_OTLP_PROTOCOL' | 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' | 'OTEL_SERVICE_NAME' | 'OTEL_RESOURCE_ATTRIBUTES' | 'OTEL_TRACES_SAMPLER' |
'OTEL_TRACES_SAMPLER_ARG' | 'OTEL_BSP_MAX_QUEUE_SIZE' | 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE' | 'OTEL_BSP_SCHEDULE_DELAY' | 'OTEL_BSP_EXPORT_TIMEOUT' |
'OTEL_EXPORTER_OTLP_TIMEOUT' | 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT' | 'REDIS_URL'>

/** Where OTLP/HTTP receivers listen when no endpoint is configured (the OpenTelemetry default). */
const DEFAULT_ENDPOINT = 'http://localhost:4318'

function checkEndpoint (name: string, value: string | undefined, problems: string[]): void {
  if (value === undefined) return
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    problems.push(`${name}: not an http:// or https:// URL (got ${JSON.stringify(value)}); expected the URL of an OTLP/HTTP receiver`)
  }
}

/**
 * Tracing is off unless asked for, the OpenTelemetry way: `OTEL_TRACES_EXPORTER=otlp`, or an OTLP endpoint set
 * (without `OTEL_TRACES_EXPORTER=none`); `OTEL_SDK_DISABLED=true` wins over both. Returns what the SDK is started
 * with, or undefined when tracing is off (and then nothing of the SDK is loaded).
 */
export function tracingSettings (env: TracingEnv, problems: string[]): TracingSettings | undefined {
  checkEndpoint('OTEL_EXPORTER_OTLP_ENDPOINT', env.OTEL_EXPORTER_OTLP_ENDPOINT, problems)
  checkEndpoint('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, problems)
  const endpointSet = env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined
  const on = env.OTEL_TRACES_EXPORTER === 'otlp' || (env.OTEL_TRACES_EXPORTER === undefined && endpointSet)
  if (env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE > env.OTEL_BSP_MAX_QUEUE_SIZE) {
    problems.push(`OTEL_BSP_MAX_EXPORT_BATCH_SIZE: ${env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE} is more than OTEL_BSP_MAX_QUEUE_SIZE (${env.OTEL_BSP_MAX_QUEUE_SIZE}); expected a batch no larger than the queue`)
  }
  if (env.OTEL_SDK_DISABLED || !on) return undefined
  // OTLP/HTTP: the signal's path is appended to the general endpoint, and the signal's own endpoint is used as is.
  const base = (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '')
  return {
    url: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${base}/v1/traces`,
    protocol: env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL,
    serviceName: env.OTEL_SERVICE_NAME,
    resourceAttributes: env.OTEL_RESOURCE_ATTRIBUTES,
    sampler: env.OTEL_TRACES_SAMPLER,
    samplerRatio: env.OTEL_TRACES_SAMPLER_ARG ?? 1,
    batch: {
      maxQueueSize: env.OTEL_BSP_MAX_QUEUE_SIZE,
      maxExportBatchSize: env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      scheduledDelayMillis: env.OTEL_BSP_SCHEDULE_DELAY,
      exportTimeoutMillis: env.OTEL_BSP_EXPORT_TIMEOUT
    },
    timeoutMillis: env.OTEL_EXPORTER_OTLP_TRACES_TIMEOUT ?? env.OTEL_EXPORTER_OTLP_TIMEOUT,
    redis: env.REDIS_URL !== undefined
  }
}
