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
 * a missing or unusable `id` or `balance`, or an amount a JSON number cannot carry exactly, rejects the whole
 * response. Free text loses its control and invisible formatting characters (CONTROL); identifiers (id, gstin)
 * with one are unusable.
 */
export interface Normalized {
  profile: Profile
  /** Known fields that were present but unusable, so they were omitted. */
  dropped: string[]
}

type Raw = Record<string, unknown>

const DECIMAL = /^-?\d{1,15}(\.\d{1,10})?$/
const PUBLISHED_ORDER = Object.keys(Profile.properties) as Array<keyof Profile>
/** Free text shown to people: control characters are removed, the rest is kept. Lengths are the schema's. */
const TEXT_FIELDS = ['name', 'email', 'phone', 'company', 'account_type'] as const
const maxLength = (key: typeof TEXT_FIELDS[number] | 'id' | 'gstin'): number => (Profile.properties[key] as unknown as { maxLength: number }).maxLength

/**
 * The most significant digits a money amount may have, and the largest magnitude: what a JSON number
 * (an IEEE-754 double) carries exactly to the cent. Past them, the published number would be a rounded one.
 */
const MAX_SIGNIFICANT_DIGITS = 15
const MAX_MONEY = 2 ** 53 / 100

/**
 * C0 controls, DEL, C1 controls, the line/paragraph separators that break JavaScript and log lines, and the
 * invisible characters that make text display other than it reads (Trojan Source, CVE-2021-42574): the
 * bidirectional embeddings, overrides and isolates (U+202A–202E, U+2066–2069), the Arabic letter mark
 * (U+061C), the zero-width space, joiners and direction marks (U+200B–200F) and the byte-order mark (U+FEFF).
 */
// eslint-disable-next-line no-control-regex -- matching these characters is the point
const CONTROL = /[\u0000-\u001F\u007F-\u009F\u061C\u200B-\u200F\u2028-\u202E\u2066-\u2069\uFEFF]/gu
/** With the u flag, a surrogate matches only when it is not half of a pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u

function isObject (value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function toNumber (value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined
  // Number() trims the same whitespace String.prototype.trim does.
  if (typeof value === 'string' && DECIMAL.test(value.trim())) return Number(value)
  return undefined
}

/** Significant digits of a decimal numeral ("-0012.3400" → 4, "1.5e-7" → 2). */
export function significantDigits (numeral: string): number {
  const mantissa = numeral.replace(/^[-+]/, '').split(/e/i)[0] as string
  const [whole, fraction = ''] = mantissa.split('.') as [string, string?]
  return `${whole}${fraction.replace(/0+$/, '')}`.replace(/^0+/, '').length
}

/**
 * A money amount (or percentage) that a JSON number publishes exactly: finite, |x| < 2^53 / 100, at most
 * 15 significant digits as Vobiz wrote it; -0 becomes 0. Undefined for anything else: never rounded.
 */
export function toExactAmount (value: unknown): number | undefined {
  const number = toNumber(value)
  // Stryker disable next-line ConditionalExpression: without this line undefined reaches `return number` below, which returns it
  if (number === undefined) return undefined
  // Stryker disable next-line EqualityOperator: no amount of exactly 2^53 / 100 has 15 significant digits or fewer, so the next check refuses it either way
  if (Math.abs(number) >= MAX_MONEY) return undefined
  if (significantDigits(typeof value === 'string' ? value.trim() : String(number)) > MAX_SIGNIFICANT_DIGITS) return undefined
  return number === 0 ? 0 : number
}

/** Free text without control characters; undefined when it holds a lone surrogate (not valid Unicode) or is too long. */
function toText (value: unknown, max: number): string | undefined {
  if (typeof value !== 'string' || LONE_SURROGATE.test(value)) return undefined
  const text = value.replace(CONTROL, '')
  return text.length <= max ? text : undefined
}

/** An identifier is published exactly as Vobiz sent it (trimmed) or not at all: no control character, no lone surrogate. */
function toIdentifier (value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined
  const text = value.trim()
  return text === '' || text.length > max || LONE_SURROGATE.test(text) || text.search(CONTROL) !== -1 ? undefined : text
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

  const id = toIdentifier(Number.isSafeInteger(source.id) ? String(source.id) : source.id, maxLength('id'))
  if (id === undefined) {
    throw new UpstreamError('upstream_invalid_response', 'partner profile has no usable id')
  }
  // A rounded balance must never drive a transfer decision: the whole response is refused. (The message
  // never repeats the value: nothing Vobiz sent reaches a log line.)
  const balance = toExactAmount(source.balance)
  if (balance === undefined) {
    throw new UpstreamError('upstream_invalid_response', 'partner profile has no usable balance (missing, not a number, or not exact to the cent as a JSON number)')
  }
  const tds = source.tds_percentage
  if (toNumber(tds) !== undefined && toExactAmount(tds) === undefined) {
    throw new UpstreamError('upstream_invalid_response', 'partner profile has a tds_percentage a JSON number cannot carry exactly')
  }

  const profile: Profile = { id, balance }
  const dropped: string[] = []
  const take = <K extends keyof Profile>(key: K, convert: (value: unknown) => Profile[K] | undefined): void => {
    const value = source[key]
    if (value === undefined || value === null) return
    const converted = convert(value)
    if (converted === undefined) dropped.push(key)
    else profile[key] = converted
  }

  for (const key of TEXT_FIELDS) take(key, (v) => toText(v, maxLength(key)))
  take('currency', (v) => (typeof v === 'string' && /^[A-Za-z]{3}$/.test(v.trim()) ? v.trim().toUpperCase() : undefined))
  take('gstin', (v) => toIdentifier(v, maxLength('gstin')))
  take('gst_status', (v) => toEnum(v, ['active', 'inactive'] as const))
  take('tds_applicable', toBoolean)
  take('tds_percentage', (v) => {
    const n = toExactAmount(v)
    // Stryker disable next-line ConditionalExpression: a comparison with undefined is false, so undefined is refused without the first check too
    return n !== undefined && n >= 0 && n <= 100 ? n : undefined
  })
  take('status', (v) => toEnum(v, ['active', 'suspended', 'closed'] as const))
  take('created_at', toTimestamp)
  take('updated_at', toTimestamp)

  // Publish fields in the documented order, whatever order Vobiz sent them in.
  const ordered = Object.fromEntries(PUBLISHED_ORDER.filter((key) => key in profile).map((key) => [key, profile[key]])) as Profile
  // Belt and braces: what we publish must match the published schema exactly.
  // Stryker disable all: unreachable while the rules above hold (which the tests pin one by one)
  /* c8 ignore next 3 */
  if (!Value.Check(Profile, ordered)) {
    throw new UpstreamError('upstream_invalid_response', 'normalised profile does not match the published schema')
  }
  // Stryker restore all
  return { profile: ordered, dropped }
}
