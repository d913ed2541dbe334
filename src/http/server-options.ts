import { LogController } from 'fastify'
import type { Config } from '../config.ts'
import { trustProxyOption } from './client-address.ts'
import { clientErrorHandler, frameworkErrors } from './client-errors.ts'
import { requestId } from './request-id.ts'
import { lazyChildLogger } from './request-logger.ts'

/** How often Node checks connections against the headers and request timeouts (its default is 30 s). */
const CONNECTIONS_CHECK_INTERVAL_MS = 1000

/** Fastify's constructor options: what the HTTP server itself does before any plugin runs. */
export function serverOptions (config: Config) {
  return {
    // One summary line per request comes from the access-log plugin instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: requestId,
    childLoggerFactory: lazyChildLogger,
    bodyLimit: 1024,
    // Silent or slow clients are let go in seconds: headers must arrive within HEADERS_TIMEOUT_MS (checked
    // every second, not Node's default 30 s), a whole request within REQUEST_TIMEOUT_MS, and an idle
    // keep-alive connection is closed after KEEP_ALIVE_TIMEOUT_MS.
    // Without Host, requireHost answers (in problem+json) instead of Node.
    http: { headersTimeout: config.HEADERS_TIMEOUT_MS, connectionsCheckingInterval: CONNECTIONS_CHECK_INTERVAL_MS, requireHostHeader: false },
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    clientErrorHandler,
    // A path the router refuses (bad percent-encoding, an over-long segment) is answered through the app.
    frameworkErrors,
    // Shutdown is answered by the drain plugin, in problem+json.
    return503OnClosing: false,
    trustProxy: trustProxyOption(config.TRUST_PROXY)
  }
}
