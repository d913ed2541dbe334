import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * Fastify's genReqId: a caller's X-Request-Id is kept when it is a sane token (1–128 of A–Z a–z 0–9 . _ : -),
 * so one id follows a call across services; anything else gets a fresh UUID.
 */
export function requestId (request: IncomingMessage): string {
  const header = request.headers['x-request-id']
  return typeof header === 'string' && SANE_ID.test(header) ? header : randomUUID()
}
