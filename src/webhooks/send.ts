import { Webhook } from 'standardwebhooks'
import { request, type Dispatcher } from 'undici'
import { parseRetryAfter } from '../vobiz/client.ts'
import type { Delivery } from './queue.ts'
import type { Subscription } from './subscriptions.ts'

/**
 * What one POST came to: delivered (a 2xx), or why not (a status or an error code; never the response body),
 * with the status if there was one, and the wait a 429 or 503 asked for in `Retry-After`.
 */
export type Attempt = { ok: true, status: number } | { ok: false, reason: string, status?: number, retryAfterMs?: number }

/** The message a receiver gets: the Standard Webhooks payload shape, `type` naming the change class. */
export function payloadOf (delivery: Delivery): string {
  return JSON.stringify({ type: `profile.${delivery.class}`, timestamp: new Date(delivery.detectedAt).toISOString(), data: delivery.data })
}

/** The `webhook-id` of a change's message: the same on every retry, so that a receiver can drop repeats. */
export const messageId = (delivery: Pick<Delivery, 'id' | 'class'>): string => `${delivery.class === 'snapshot' ? 'snap' : 'chg'}_${delivery.id}`

export interface SendOptions {
  /** The webhooks' own connection pool (never Vobiz's); redirects are not followed. */
  dispatcher: Dispatcher
  /** WEBHOOKS_TIMEOUT_MS: the whole attempt, connection to last byte. */
  timeoutMs: number
  userAgent: string
  /** WEBHOOKS_BACKOFF_MAX_SECONDS: the longest `Retry-After` honoured. */
  maxRetryAfterSeconds: number
}

/** Statuses whose `Retry-After` says when to try again (Standard Webhooks, "Delivery success and failure"). */
const RETRY_AFTER_STATUSES = new Set([429, 503])

/**
 * POSTs one delivery, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`:
 * HMAC-SHA256 of `id.timestamp.body` with the endpoint's secret), timestamped by the wall clock at sending
 * time, as receivers check it against theirs. A 2xx is delivered; anything else (a redirect included) is a
 * failure to retry, after the wait a 429 or 503 asks for in `Retry-After` (RFC 9110 §10.2.3, seconds or an
 * HTTP-date, at most `maxRetryAfterSeconds`). The response body is read to the end and dropped, never logged.
 */
export async function send (subscription: Subscription, delivery: Delivery, { dispatcher, timeoutMs, userAgent, maxRetryAfterSeconds }: SendOptions): Promise<Attempt> {
  const body = payloadOf(delivery)
  const id = messageId(delivery)
  const sentAt = new Date()
  try {
    const response = await request(subscription.url, {
      method: 'POST',
      dispatcher,
      headers: {
        'content-type': 'application/json',
        'user-agent': userAgent,
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': new Webhook(subscription.secret).sign(id, sentAt, body)
      },
      body,
      signal: AbortSignal.timeout(timeoutMs)
    })
    await response.body.dump()
    const status = response.statusCode
    if (status >= 200 && status < 300) return { ok: true, status }
    const retryAfter = response.headers['retry-after']
    if (!RETRY_AFTER_STATUSES.has(status) || retryAfter === undefined) return { ok: false, reason: `HTTP ${status}`, status }
    return { ok: false, reason: `HTTP ${status}`, status, retryAfterMs: parseRetryAfter(retryAfter, maxRetryAfterSeconds) * 1000 }
  } catch (err) {
    const { code, name } = err as { code?: unknown, name: string }
    return { ok: false, reason: typeof code === 'string' ? code : name }
  }
}
