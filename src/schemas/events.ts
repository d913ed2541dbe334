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
