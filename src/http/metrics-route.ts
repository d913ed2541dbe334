import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { problem } from './problems.ts'

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

/**
 * GET /metrics on the main port, only for `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time).
 * Without METRICS_TOKEN there is no /metrics route at all.
 */
async function metricsRoute (app: FastifyInstance, { token }: { token: string | undefined }): Promise<void> {
  if (token === undefined) return
  const { metrics } = app
  const expected = digest(`Bearer ${token}`)
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    const presented = request.headers.authorization
    // RFC 6750 §3: no credentials → a bare challenge; a wrong token → error="invalid_token".
    if (typeof presented !== 'string') {
      throw problem('missing_token', 'Metrics need Authorization: Bearer <METRICS_TOKEN>.', { 'www-authenticate': 'Bearer realm="metrics"' })
    }
    if (!timingSafeEqual(digest(presented), expected)) {
      throw problem('invalid_token', 'The bearer token is not the metrics token.', { 'www-authenticate': 'Bearer realm="metrics", error="invalid_token"' })
    }
    // Content negotiation: OpenMetrics for a scraper that asks for it (Prometheus does), else the text format 0.0.4.
    const registry = /application\/openmetrics-text/i.test(request.headers.accept ?? '') ? metrics.openMetrics() : metrics.registry
    reply.type(registry.contentType)
    return await registry.metrics()
  })
}

export default metricsRoute
