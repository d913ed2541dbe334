import { Value } from 'typebox/value'
import { Profile } from '../schemas/profile.ts'
import { UpstreamError } from './errors.ts'

/**
 * Turns whatever /api/v1/partner/me returned into the published Profile.
 *
 * Lenient in what it accepts: both documented shapes (numeric balance with currency/GST/TDS fields, and the
 * newer one with a 5-decimal string balance, UUID id and extra fields), an optional `data` envelope,
 * case-insensitive enums. Strict in what it publishes: fields are copied one by one, so anything Vobiz adds
 * (auth_id, slug, ...) is dropped; a known field with an unusable value is omitted and reported in `dropped`;
 * a missing or unusable `id` or `balance` rejects the whole response.
 */
export interface Normalized {
  profile: Profile
  /** Known fields that were present but unusable, so they were omitted. */
  dropped: string[]
}

type Raw = Record<string, unknown>

const DECIMAL = /^-?\d{1,15}(\.\d{1,10})?$/
const PUBLISHED_ORDER = Object.keys(Profile.properties) as Array<keyof Profile>
const TEXT_FIELDS = { name: 512, email: 512, phone: 64, company: 512, account_type: 64 } as const

function isObject (value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function toNumber (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  if (typeof value === 'string' && DECIMAL.test(value.trim())) return Number(value.trim())
  return undefined
}

function toEnum<T extends string> (value: unknown, allowed: readonly T[]): T | undefined {
  if (typeof value !== 'string') return undefined
  const lower = value.trim().toLowerCase()
  return allowed.find((a) => a === lower)
}

function toTimestamp (value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 64) return undefined
  // Require an ISO-8601-looking date so that things like "1" are not read as a year.
  if (!/^\d{4}-\d{2}-\d{2}/.test(value)) return undefined
  const time = Date.parse(value)
  return Number.isNaN(time) ? undefined : new Date(time).toISOString()
}

function toBoolean (value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value
  if (value === 'true' || value === 'false') return value === 'true'
  return undefined
}

function unwrap (raw: unknown): Raw | undefined {
  if (!isObject(raw)) return undefined
  if (raw.id === undefined && isObject(raw.data)) return raw.data
  return raw
}

export function normalizeProfile (raw: unknown): Normalized {
  const source = unwrap(raw)
  if (source === undefined) {
    throw new UpstreamError('upstream_invalid_response', 'partner profile is not a JSON object')
  }

  const id = typeof source.id === 'number' && Number.isSafeInteger(source.id) ? String(source.id) : source.id
  if (typeof id !== 'string' || id.trim() === '' || id.length > 128) {
    throw new UpstreamError('upstream_invalid_response', 'partner profile has no usable id')
  }
  const balance = toNumber(source.balance)
  if (balance === undefined) {
    throw new UpstreamError('upstream_invalid_response', 'partner profile has no usable balance')
  }

  const profile: Profile = { id: id.trim(), balance }
  const dropped: string[] = []
  const take = <K extends keyof Profile>(key: K, convert: (value: unknown) => Profile[K] | undefined): void => {
    const value = source[key]
    if (value === undefined || value === null) return
    const converted = convert(value)
    if (converted === undefined) dropped.push(key)
    else profile[key] = converted
  }

  for (const [key, max] of Object.entries(TEXT_FIELDS) as Array<[keyof typeof TEXT_FIELDS, number]>) {
    take(key, (v) => (typeof v === 'string' && v.length <= max ? v : undefined))
  }
  take('currency', (v) => (typeof v === 'string' && /^[A-Za-z]{3}$/.test(v.trim()) ? v.trim().toUpperCase() : undefined))
  take('gstin', (v) => (typeof v === 'string' && v.trim() !== '' && v.length <= 32 ? v.trim() : undefined))
  take('gst_status', (v) => toEnum(v, ['active', 'inactive'] as const))
  take('tds_applicable', toBoolean)
  take('tds_percentage', (v) => {
    const n = toNumber(v)
    return n !== undefined && n >= 0 && n <= 100 ? n : undefined
  })
  take('status', (v) => toEnum(v, ['active', 'suspended', 'closed'] as const))
  take('created_at', toTimestamp)
  take('updated_at', toTimestamp)

  // Publish fields in the documented order, whatever order Vobiz sent them in.
  const ordered = Object.fromEntries(PUBLISHED_ORDER.filter((key) => key in profile).map((key) => [key, profile[key]])) as Profile
  // Belt and braces: what we publish must match the published schema exactly.
  /* c8 ignore next 3 */
  if (!Value.Check(Profile, ordered)) {
    throw new UpstreamError('upstream_invalid_response', 'normalised profile does not match the published schema')
  }
  return { profile: ordered, dropped }
}
