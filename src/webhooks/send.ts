import { Webhook } from 'standardwebhooks'
import { request, type Dispatcher } from 'undici'
import type { Delivery } from './queue.ts'
import type { Subscription } from './subscriptions.ts'

/** What one POST came to: delivered (a 2xx), or why not (a status or an error code; never the response body). */
export type Attempt = { ok: true, status: number } | { ok: false, reason: string }

/** The message a receiver gets: the Standard Webhooks payload shape, `type` naming the change class. */
export function payloadOf (delivery: Delivery): string {
  return JSON.stringify({ type: `profile.${delivery.class}`, timestamp: new Date(delivery.detectedAt).toISOString(), data: delivery.data })
}

/** The `webhook-id` of a change's message: the same on every retry, so that a receiver can drop repeats. */
export const messageId = (delivery: Pick<Delivery, 'id'>): string => `chg_${delivery.id}`

export interface SendOptions {
  /** The webhooks' own connection pool (never Vobiz's); redirects are not followed. */
  dispatcher: Dispatcher
  /** WEBHOOKS_TIMEOUT_MS: the whole attempt, connection to last byte. */
  timeoutMs: number
  userAgent: string
}

/**
 * POSTs one delivery, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`:
 * HMAC-SHA256 of `id.timestamp.body` with the endpoint's secret), timestamped by the wall clock at sending
 * time, as receivers check it against theirs. A 2xx is delivered; anything else (a redirect included) is a
 * failure to retry. The response body is read to the end and dropped, never logged.
 */
export async function send (subscription: Subscription, delivery: Delivery, { dispatcher, timeoutMs, userAgent }: SendOptions): Promise<Attempt> {
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
    return response.statusCode >= 200 && response.statusCode < 300 ? { ok: true, status: response.statusCode } : { ok: false, reason: `HTTP ${response.statusCode}` }
  } catch (err) {
    const { code, name } = err as { code?: unknown, name: string }
    return { ok: false, reason: typeof code === 'string' ? code : name }
  }
}
