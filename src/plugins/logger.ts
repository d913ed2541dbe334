import { unescape } from 'node:querystring'
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino'
import type { Config } from '../config.ts'
import { LogSink } from '../observability/log-sink.ts'
import { SecretFilter } from '../observability/secret-filter.ts'
import { activeTraceFields } from '../observability/tracing.ts'

/** Header and field paths that may carry a secret, censored in every log line. */
const REDACT = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  'headers.authorization',
  'headers["x-auth-id"]',
  'headers["x-auth-token"]',
  '*.headers["x-auth-id"]',
  '*.headers["x-auth-token"]'
]

/** Fields on every log line. */
export const LOG_BASE = { service: 'vobiz-partner-bff' }

export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'> & Partial<Pick<Config, 'tracing'>>): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    base: LOG_BASE,
    redact: { paths: REDACT, censor: '[redacted]' },
    // With tracing on, a line written inside a traced request carries its trace and span ids.
    ...(config.tracing === undefined ? {} : { mixin: activeTraceFields })
  }
}

/** The values of the OTLP export headers (a vendor's token, typically): `key=value,...`, URL-encoded. */
function otlpHeaderValues (config: Config): string[] {
  return [config.OTEL_EXPORTER_OTLP_HEADERS, config.OTEL_EXPORTER_OTLP_TRACES_HEADERS].flatMap((list) => (list ?? '').split(','))
    .map((pair) => pair.slice(pair.indexOf('=') + 1).trim())
    .flatMap((value) => [value, unescape(value)])
}

/** Every value that must never reach a log line (nor a span), for the last check before a line is written. */
function secretsOf (config: Config): SecretFilter {
  const redisPassword = config.REDIS_URL === undefined ? undefined : decodeURIComponent(new URL(config.REDIS_URL).password)
  return new SecretFilter({
    secrets: [config.VOBIZ_AUTH_ID, config.VOBIZ_AUTH_TOKEN, config.METRICS_TOKEN, config.REDIS_URL, redisPassword, ...otlpHeaderValues(config)],
    keyDigests: config.consumers.map((consumer) => consumer.key_sha256)
  })
}

/** The app's logger and the sink its lines (and the access log's) go through. */
export interface Logging {
  logger: Logger
  sink: LogSink
  /** The values scrubbed from every line; reloads add rotated credentials and the new consumers' keys. */
  secrets: SecretFilter
}

/**
 * The logger, made before the app (Fastify takes it as its loggerInstance). Asynchronous stdout: under load,
 * lines are written in batches instead of one write per line; whatever is buffered is flushed when the
 * process exits. The sink bounds that buffer (a stalled reader drops lines, not memory); sonic-boom's own
 * cap is the backstop. Every line is scrubbed of the configured secrets before it is written.
 */
export function createLogging (config: Config, stream?: DestinationStream): Logging {
  const sink = stream === undefined
    ? new LogSink({ destination: pino.destination({ dest: 1, sync: false, maxLength: config.LOG_MAX_BUFFER_BYTES }), maxBufferBytes: config.LOG_MAX_BUFFER_BYTES })
    : new LogSink({ destination: stream })
  const secrets = secretsOf(config)
  const logger = pino(loggerOptions(config), { write: (line: string) => { sink.write(secrets.scrub(line)) } })
  // Only a real stdout can stall: test/security/exhaustion.test.ts covers this in a child process.
  /* c8 ignore next */
  sink.onRecovered = (dropped) => { logger.warn({ dropped }, `the log destination fell behind: ${dropped} lines were dropped`) }
  return { logger, sink, secrets }
}
