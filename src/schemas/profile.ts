import Type, { type Static } from 'typebox'

/** The partner profile this service publishes. Only these fields ever leave the service. */
export const Profile = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 128, description: 'Permanent partner id; capture it once at integration start' }),
  name: Type.Optional(Type.String({ maxLength: 512 })),
  email: Type.Optional(Type.String({ maxLength: 512 })),
  phone: Type.Optional(Type.String({ maxLength: 64 })),
  company: Type.Optional(Type.String({ maxLength: 512 })),
  balance: Type.Number({ description: 'Account balance as a JSON number, in `currency`' }),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code; omitted when Vobiz does not send it' })),
  gstin: Type.Optional(Type.String({ maxLength: 32, description: 'GST identification number; omitted when none is registered' })),
  gst_status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('inactive')])),
  tds_applicable: Type.Optional(Type.Boolean()),
  tds_percentage: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  account_type: Type.Optional(Type.String({ maxLength: 64 })),
  status: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('closed')])),
  created_at: Type.Optional(Type.String({ format: 'date-time' })),
  updated_at: Type.Optional(Type.String({ format: 'date-time' }))
}, {
  additionalProperties: false,
  description: 'The Vobiz partner profile, normalised: fields Vobiz does not send are omitted, fields it adds are dropped'
})
export type Profile = Static<typeof Profile>

export const Balance = Type.Object({
  partner_id: Type.String({ minLength: 1, maxLength: 128 }),
  balance: Type.Number(),
  currency: Type.Optional(Type.String({ pattern: '^[A-Z]{3}$' })),
  as_of: Type.String({ format: 'date-time', description: 'When this data was requested from Vobiz' })
}, { additionalProperties: false, description: 'The partner balance and when it was read from Vobiz' })
export type Balance = Static<typeof Balance>

/** The documented example partner (made-up data), used in the published spec. */
export const PROFILE_EXAMPLE: Profile = {
  id: 'partner-882abc',
  name: 'Acme Telecom Pvt Ltd',
  email: 'billing@acme.example',
  phone: '+919876543210',
  company: 'Acme Telecom Pvt Ltd',
  balance: 48250,
  currency: 'INR',
  gstin: '29ABCDE1234F1Z5',
  gst_status: 'active',
  tds_applicable: true,
  tds_percentage: 2,
  account_type: 'partner',
  status: 'active',
  created_at: '2024-01-15T10:30:00.000Z',
  updated_at: '2026-11-26T22:50:00.000Z'
}

export const BALANCE_EXAMPLE: Balance = {
  partner_id: 'partner-882abc',
  balance: 48250,
  currency: 'INR',
  as_of: '2026-11-26T22:50:00.430Z'
}
