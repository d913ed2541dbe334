import Type, { type Static } from 'typebox'
import { Balance, Profile } from './profile.ts'

const AS_OF = Type.String({ format: 'date-time', description: 'When the data was requested from Vobiz' })

/** The profile as `GET /profile` publishes it, with the time it was read from Vobiz. */
export const ProfileAsOf = Type.Object({ ...Profile.properties, as_of: AS_OF }, {
  additionalProperties: false,
  description: 'The partner profile (as GET /profile) and when it was read from Vobiz'
})

const Changed = (fields: string[]) => Type.Array(Type.Enum(fields), { description: 'The fields that differ from the previous fetch' })

export const Crossing = Type.Object({
  threshold: Type.Number({ description: 'A configured BALANCE_THRESHOLDS value' }),
  direction: Type.Union([Type.Literal('below'), Type.Literal('above')], { description: '`below`: the balance went under it; `above`: back at or over it' })
}, { additionalProperties: false })

/** `event: balance` — the balance (or its currency) changed. */
export const BalanceEvent = Type.Object({
  ...Balance.properties,
  previous_balance: Type.Number({ description: 'The balance of the previous fetch' }),
  changed: Changed(['balance', 'currency']),
  crossed: Type.Array(Crossing, { description: 'The thresholds this change crossed, highest first (empty for none)' })
}, { additionalProperties: false, description: 'The balance changed: GET /profile/balance\'s shape, with the previous balance and the thresholds crossed' })
export type BalanceEvent = Static<typeof BalanceEvent>

/** `event: billing` — GSTIN, GST status, TDS, account type or status changed. */
export const BillingEvent = Type.Object({ ...ProfileAsOf.properties, changed: Changed(['gstin', 'gst_status', 'tds_applicable', 'tds_percentage', 'account_type', 'status']) }, {
  additionalProperties: false,
  description: 'Billing metadata changed (GSTIN, GST status, TDS, account type or status): the whole profile, and which fields changed'
})
export type BillingEvent = Static<typeof BillingEvent>

/** `event: contact` — name, email, phone or company changed. */
export const ContactEvent = Type.Object({ ...ProfileAsOf.properties, changed: Changed(['name', 'email', 'phone', 'company']) }, {
  additionalProperties: false,
  description: 'Contact details changed (name, email, phone, company): the whole profile, and which fields changed'
})
export type ContactEvent = Static<typeof ContactEvent>

/** `event: snapshot` — the whole current state: first on every connection, and instead of a replay that could not be complete. */
export const SnapshotEvent = Type.Object({
  balance: Balance,
  profile: Type.Optional(ProfileAsOf)
}, { additionalProperties: false, description: 'The current state: the balance, and the profile for callers that may read it (profile:read)' })
export type SnapshotEvent = Static<typeof SnapshotEvent>

export type ChangeEventData = BalanceEvent | BillingEvent | ContactEvent

/** Why the service ended a stream (the `reason` of its last message, `event: end`). */
export const END_REASONS = ['shutdown', 'slow', 'revoked', 'scope_reduced', 'expired'] as const

/** `event: end` — the last message of a stream the service ends, saying why. */
export const EndEvent = Type.Object({
  reason: Type.Enum(END_REASONS, {
    description: '`shutdown`: this replica is stopping, reconnect; `slow`: the client left EVENTS_MAX_BUFFERED_BYTES unread, reconnect; ' +
      '`revoked`: the key is no longer accepted (a reconnect gets 401); ' +
      '`scope_reduced`: the key no longer grants profile:read, reconnect for a balance-only stream; `expired`: the bearer token expired, reconnect with a new one'
  }),
  detail: Type.String({ description: 'The same, in a sentence' })
}, { additionalProperties: false, description: 'The stream ends after this message, and why; it has no `id`, so Last-Event-ID stays the last change received' })
export type EndEvent = Static<typeof EndEvent>

/** What a webhook receiver is POSTed: `type` names the change class (or `snapshot`). */
const webhookPayload = (type: string, timestamp: string, data: typeof BalanceEvent | typeof BillingEvent | typeof ContactEvent | typeof SnapshotEvent, description: string) => Type.Object({
  type: Type.Literal(type, { description: 'The change class, or `profile.snapshot`' }),
  timestamp: Type.String({ format: 'date-time', description: timestamp }),
  data
}, { additionalProperties: false, description })

/** Headers every delivery carries (Standard Webhooks). */
const WEBHOOK_HEADERS = [
  { name: 'webhook-id', description: 'The message id: `chg_` and the change\'s id (the SSE event id), or `snap_` and the snapshot\'s own id. The same on every retry: drop a message whose id you have already processed' },
  { name: 'webhook-timestamp', description: 'When this attempt was signed, in seconds since the epoch: reject it if too far from your clock (Standard Webhooks verifiers allow 5 minutes)' },
  { name: 'webhook-signature', description: '`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the endpoint\'s secret (the base64 after `whsec_`); verify with a Standard Webhooks library' }
].map(({ name, description }) => ({ name, in: 'header', required: true, description, schema: { type: 'string' } }))

const DELIVERY = 'Signed per Standard Webhooks. Delivered at least once, oldest first per endpoint; retried with exponential backoff (1 s doubling, up to WEBHOOKS_BACKOFF_MAX_SECONDS), or after the `Retry-After` of a 429 or 503 when longer, for WEBHOOKS_RETRY_HOURS. Any 2xx acknowledges it; `410 Gone` disables the endpoint until its WEBHOOKS_FILE entry changes or SIGHUP (then a `profile.snapshot` comes first); anything else, a redirect or no answer within WEBHOOKS_TIMEOUT_MS is retried.'

const operation = (operationId: string, summary: string, description: string, payload: ReturnType<typeof webhookPayload>) => ({
  post: {
    operationId,
    tags: ['events'],
    summary,
    description,
    // No credentials: the receiver verifies the signature.
    security: [],
    parameters: WEBHOOK_HEADERS,
    requestBody: { required: true, content: { 'application/json': { schema: payload } } },
    responses: {
      200: { description: 'Received (any 2xx does); the body is ignored' },
      410: { description: 'Gone: the endpoint is disabled, nothing more is sent until its WEBHOOKS_FILE entry changes or SIGHUP' },
      default: { description: 'Not received: retried later (after `Retry-After` on a 429 or 503, if longer than the backoff)' }
    }
  }
})

/**
 * The OpenAPI 3.1 `webhooks` section, as WEBHOOKS_FILE endpoints receive them: one POST per change class,
 * and the snapshot every endpoint is sent whatever its `events` (a resynchronisation, not a change class).
 */
export const WEBHOOKS_DOCUMENT = {
  ...Object.fromEntries(([['billing', BillingEvent], ['contact', ContactEvent], ['balance', BalanceEvent]] as const).map(([cls, data]) => [`profile.${cls}`, operation(
    `${cls}ChangeWebhook`,
    `A ${cls} change, delivered to the endpoints subscribed to \`${cls}\``,
    DELIVERY,
    webhookPayload(`profile.${cls}`, 'When the change was detected (the fetch that revealed it)', data, `A ${cls} change: \`data\` is what SSE subscribers receive as \`event: ${cls}\``)
  )])),
  'profile.snapshot': operation(
    'snapshotWebhook',
    'The whole current state, sent to every endpoint (whatever its `events`) when it may have missed changes',
    `${DELIVERY} Sent instead of changes the endpoint could not be given: after a restart without Redis (or with an emptied Redis), after changes were dropped from its full queue (WEBHOOKS_QUEUE_MAX) or given up (WEBHOOKS_RETRY_HOURS), and when a disabled endpoint is enabled again. Replace what you hold with it; changes after it follow it.`,
    webhookPayload('profile.snapshot', 'When the snapshot was queued (when the state was read from Vobiz is its `as_of`)', SnapshotEvent,
      'A snapshot: `data` is SSE\'s `snapshot` event, `{balance, profile}`; `profile` is left out for an endpoint that lists only `balance` (as SSE leaves it out for a caller that may read only the balance)')
  )
}
