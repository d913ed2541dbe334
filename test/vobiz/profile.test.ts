import t from 'tap'
import { Profile } from '../../src/schemas/profile.ts'
import { normalizeProfile, significantDigits } from '../../src/vobiz/profile.ts'

const documented = {
  id: 'partner-882abc',
  name: 'Acme',
  email: 'a@example.com',
  phone: '+91',
  company: 'Acme',
  balance: 48250.0,
  currency: 'INR',
  gstin: '29ABCDE1234F1Z5',
  gst_status: 'active',
  tds_applicable: true,
  tds_percentage: 2,
  account_type: 'partner',
  status: 'active',
  created_at: '2024-01-15T10:30:00Z',
  updated_at: '2024-03-01T08:00:00+05:30'
}

t.test('the documented shape passes through field by field, timestamps in UTC ISO-8601', async (t) => {
  const { profile, dropped } = normalizeProfile(documented)
  t.same(profile, { ...documented, created_at: '2024-01-15T10:30:00.000Z', updated_at: '2024-03-01T02:30:00.000Z' })
  t.same(dropped, [])
})

t.test('the newer shape: string balance, UUID id, extras dropped, missing fields omitted', async (t) => {
  const { profile } = normalizeProfile({
    id: '6f1c2a4e-8b1d-4c3e-9a57-2d0b5e7f9c11',
    auth_id: 'MA123SECRETISH',
    slug: 'acme',
    is_active: true,
    can_transfer_balance: true,
    name: 'Acme',
    balance: '23906.83000',
    status: 'ACTIVE'
  })
  t.same(profile, { id: '6f1c2a4e-8b1d-4c3e-9a57-2d0b5e7f9c11', name: 'Acme', balance: 23906.83, status: 'active' })
})

t.test('lenient input: data envelope, numeric id, null fields, string numbers and booleans, lower-case currency', async (t) => {
  const { profile, dropped } = normalizeProfile({
    data: { id: 9001, balance: -12.5, gstin: null, currency: 'inr', tds_applicable: 'false', tds_percentage: '10.00', gst_status: 'Inactive' }
  })
  t.same(profile, { id: '9001', balance: -12.5, currency: 'INR', gst_status: 'inactive', tds_applicable: false, tds_percentage: 10 })
  t.same(dropped, [])
})

t.test('known fields with unusable values are omitted and reported, never published', async (t) => {
  const { profile, dropped } = normalizeProfile({
    id: 'p',
    balance: 1,
    status: 'pending',
    gst_status: 'maybe',
    currency: 'RUPEES',
    tds_percentage: 150,
    tds_applicable: 'yes',
    created_at: 'yesterday',
    updated_at: '1',
    email: 42,
    name: 'x'.repeat(600),
    gstin: '   '
  })
  t.same(profile, { id: 'p', balance: 1 })
  t.same(dropped.sort(), ['created_at', 'currency', 'email', 'gst_status', 'gstin', 'name', 'status', 'tds_applicable', 'tds_percentage', 'updated_at'])

  const wrongTypes = normalizeProfile({ id: 'p', balance: 1, status: 1, created_at: 1700000000, updated_at: '2024-13-45T99:00:00Z', account_type: {} })
  t.same(wrongTypes.profile, { id: 'p', balance: 1 })
  t.same(wrongTypes.dropped.sort(), ['account_type', 'created_at', 'status', 'updated_at'])
})

t.test('a response without a usable id or balance is rejected as upstream_invalid_response', async (t) => {
  const bad: unknown[] = [
    null, 'text', 42, [], {},
    { balance: 1 },
    { id: '', balance: 1 },
    { id: 'x'.repeat(129), balance: 1 },
    { id: 1.5, balance: 1 },
    { id: 'p' },
    { id: 'p', balance: 'NaN' },
    { id: 'p', balance: '1e400' },
    { id: 'p', balance: Number.POSITIVE_INFINITY },
    { id: 'p', balance: true }
  ]
  for (const raw of bad) {
    t.throws(() => normalizeProfile(raw), { name: 'UpstreamError', code: 'upstream_invalid_response' }, JSON.stringify(raw) ?? String(raw))
  }
})

t.test('money is published exactly or not at all: a balance a JSON number would round rejects the whole response', async (t) => {
  const inexact: unknown[] = [
    '999999999999999.9999999999', // 25 significant digits: would be published as 1000000000000000
    '1234567890123456', // 16 digits, and past 2^53 / 100
    1e308,
    Number.MAX_SAFE_INTEGER,
    2 ** 53 / 100,
    -(2 ** 53 / 100),
    0.1 + 0.2, // 0.30000000000000004: 17 significant digits
    '0.1234567890123456'
  ]
  for (const balance of inexact) {
    t.throws(() => normalizeProfile({ id: 'p', balance }), { code: 'upstream_invalid_response', message: /not exact to the cent/ }, String(balance))
  }
  t.throws(() => normalizeProfile({ id: 'p', balance: 1, tds_percentage: 0.1 + 0.2 }), { code: 'upstream_invalid_response', message: /tds_percentage/ })

  const exact: Array<[unknown, number]> = [
    ['23906.83000', 23906.83],
    ['90071992547.40', 90071992547.4],
    [-0, 0],
    ['-0.00', 0],
    ['0.00001', 0.00001],
    [123456789012.345, 123456789012.345],
    [-12.5, -12.5]
  ]
  for (const [balance, published] of exact) {
    const { profile } = normalizeProfile({ id: 'p', balance })
    t.ok(Object.is(profile.balance, published), `${String(balance)} → ${published}`)
  }
  t.equal(significantDigits('-0012.3400'), 4)
  t.equal(significantDigits('1.5e-7'), 2)
  t.equal(significantDigits('0'), 0)
})

t.test('text: control characters are removed from free text; identifiers with one, and lone surrogates, are unusable', async (t) => {
  const { profile, dropped } = normalizeProfile({
    id: 'p',
    balance: 1,
    name: 'Acme\u0000 Telecom\r\n\u001b[31m\u2028Ltd\u0085\u007f',
    company: 'Acme 😀 Pvt',
    phone: '+91\ud800',
    email: 'a@b.example\udc00x',
    gstin: '29ABCDE1234F1Z5\n'.replace('\n', '\u0007'),
    account_type: 'partner\u2029'
  })
  t.same(profile, { id: 'p', name: 'Acme Telecom[31mLtd', company: 'Acme 😀 Pvt', balance: 1, account_type: 'partner' })
  t.same(dropped.sort(), ['email', 'gstin', 'phone'])
  for (const [i, id] of ['p\u0000', 'p\nq', 'p\u001b', '\ud800p', 'p\u2028q'].entries()) {
    t.throws(() => normalizeProfile({ id, balance: 1 }), { code: 'upstream_invalid_response', message: /no usable id/ }, `hostile id #${i}`)
  }
})

t.test('Trojan Source: bidirectional controls, zero-width characters and the BOM are removed from free text; an identifier with one is unusable', async (t) => {
  const invisible = [0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0xFEFF]
  for (const point of invisible) {
    const c = String.fromCodePoint(point)
    const hex = `U+${point.toString(16).toUpperCase().padStart(4, '0')}`
    const { profile, dropped } = normalizeProfile({ id: 'p', balance: 1, name: `Acme${c} Telecom`, company: `${c}Acme${c}`, email: `billing@acme${c}.example`, phone: `+91${c}98765`, account_type: `partner${c}`, gstin: `29ABCDE${c}1234F1Z5` })
    t.same(profile, { id: 'p', name: 'Acme Telecom', email: 'billing@acme.example', phone: '+9198765', company: 'Acme', balance: 1, account_type: 'partner' }, `${hex} is removed from free text`)
    t.same(dropped, ['gstin'], `${hex} makes a GSTIN unusable`)
    t.throws(() => normalizeProfile({ id: `partner${c}-1`, balance: 1 }), { code: 'upstream_invalid_response', message: /no usable id/ }, `${hex} makes an id unusable`)
  }
  t.same(normalizeProfile({ id: 'p', balance: 1, name: 'आचार्य 😀 عربي' }).profile.name, 'आचार्य 😀 عربي', 'other scripts and emoji are untouched')
})

t.test('prototype-polluting keys are inert', async (t) => {
  const { profile } = normalizeProfile(JSON.parse('{"id":"p","balance":1,"__proto__":{"admin":true},"constructor":{"x":1}}'))
  t.same(Object.keys(profile), ['id', 'balance'])
  t.equal(({} as Record<string, unknown>).admin, undefined)
})

/** One rule per case: each of these would let a wrong value through, or a good one be refused, if it broke. */
t.test('the rules of the normaliser, one at a time', async (t) => {
  const balanceOf = (balance: unknown): number | undefined => normalizeProfile({ id: 'p', balance }).profile.balance
  const refusesBalance = (balance: unknown, why: string): void => {
    t.throws(() => normalizeProfile({ id: 'p', balance }), { name: 'UpstreamError', code: 'upstream_invalid_response', message: /no usable balance/ }, why)
  }

  t.test('money: a decimal numeral, whole from its first character to its last', async (t) => {
    t.equal(balanceOf('23906'), 23906, 'a whole number as a string (the fraction is optional)')
    t.equal(balanceOf(' 23906.5 '), 23906.5, 'surrounding spaces are trimmed')
    t.equal(balanceOf(' 123456789012.345 '), 123456789012.345, 'spaces are not digits: 15 significant digits is within the limit')
    refusesBalance('1e3', 'an exponent')
    refusesBalance('0x10', 'hexadecimal')
    refusesBalance('12abc', 'trailing text')
    refusesBalance('abc12', 'leading text')
    refusesBalance('1.', 'a point without a fraction')
    refusesBalance(true, 'a boolean')
    refusesBalance(['1'], 'an array')
  })

  t.test('money: inexact amounts within the size limit are refused on their own (never rounded)', async (t) => {
    refusesBalance('10000000000000.001', '17 significant digits, zeros inside it counted')
    refusesBalance('10000000.0000000001', '18 significant digits: counted as written, not after parsing (which gives 10000000)')
    refusesBalance('-123456789012.3456', 'a sign is not a digit, the 16 digits are')
    t.equal(balanceOf('-123456789012.345'), -123456789012.345, '15 digits after a sign')
    t.equal(balanceOf(90_000_000_000_000), 90_000_000_000_000, 'under 2^53 / 100')
    refusesBalance(100_000_000_000_000, '1e14: one digit, but past 2^53 / 100')
    refusesBalance('-100000000000000', 'and negative')
    t.equal(significantDigits('-123'), 3)
    t.equal(significantDigits('+123'), 3)
    t.equal(significantDigits('1.5E-7'), 2, 'the exponent is not counted, whatever its case')
    t.equal(significantDigits('120'), 3, 'trailing zeros of a whole number are significant')
    t.equal(significantDigits('0.0012'), 2, 'leading zeros are not')
  })

  t.test('tds_percentage: from 0 to 100 inclusive; outside, dropped (not the whole answer)', async (t) => {
    const tds = (value: unknown) => normalizeProfile({ id: 'p', balance: 1, tds_percentage: value })
    t.same(tds(0).profile.tds_percentage, 0)
    t.same(tds(100).profile.tds_percentage, 100)
    t.same(tds('7.5').profile.tds_percentage, 7.5)
    for (const bad of [-0.01, 100.01, -1, 'ten', true]) {
      const { profile, dropped } = tds(bad)
      t.equal(profile.tds_percentage, undefined, `${String(bad)} is not published`)
      t.same(dropped, ['tds_percentage'], `${String(bad)} is reported`)
    }
  })

  t.test('booleans: true and false, as JSON or as the strings "true" and "false"; nothing else', async (t) => {
    const tdsApplicable = (value: unknown) => normalizeProfile({ id: 'p', balance: 1, tds_applicable: value }).profile.tds_applicable
    t.equal(tdsApplicable('true'), true)
    t.equal(tdsApplicable('false'), false)
    t.equal(tdsApplicable(true), true)
    t.equal(tdsApplicable(false), false)
    for (const bad of ['TRUE', 'yes', 1, 0, '']) t.equal(tdsApplicable(bad), undefined, JSON.stringify(bad))
  })

  t.test('lengths: up to the schema\'s maximum inclusive', async (t) => {
    const nameMax = (Profile.properties.name as unknown as { maxLength: number }).maxLength
    const idMax = (Profile.properties.id as unknown as { maxLength: number }).maxLength
    t.equal(normalizeProfile({ id: 'p', balance: 1, name: 'n'.repeat(nameMax) }).profile.name?.length, nameMax)
    t.same(normalizeProfile({ id: 'p', balance: 1, name: 'n'.repeat(nameMax + 1) }).dropped, ['name'])
    t.equal(normalizeProfile({ id: 'i'.repeat(idMax), balance: 1 }).profile.id.length, idMax)
    t.throws(() => normalizeProfile({ id: 'i'.repeat(idMax + 1), balance: 1 }), { message: /no usable id/ })
  })

  t.test('enums and currency are trimmed and case-insensitive; anything else is dropped without an error', async (t) => {
    t.match(normalizeProfile({ id: 'p', balance: 1, gst_status: ' ACTIVE ', status: ' Suspended', currency: ' inr ' }).profile, { gst_status: 'active', status: 'suspended', currency: 'INR' })
    const odd = normalizeProfile({ id: 'p', balance: 1, currency: ['INR'], gst_status: ['active'], status: 7 })
    t.same(odd.profile, { id: 'p', balance: 1 })
    t.same(odd.dropped, ['currency', 'gst_status', 'status'])
  })

  t.test('timestamps: an ISO-8601 date first, at most 64 characters, a string', async (t) => {
    const created = (value: unknown) => normalizeProfile({ id: 'p', balance: 1, created_at: value }).profile.created_at
    const padded = (zeros: number) => `2026-01-01T00:00:00.${'0'.repeat(zeros)}Z`
    t.equal(padded(43).length, 64)
    t.equal(created(padded(43)), '2026-01-01T00:00:00.000Z', '64 characters')
    t.equal(created(padded(44)), undefined, '65 characters (Date.parse would take it)')
    t.equal(created('2026-01-01'), '2026-01-01T00:00:00.000Z')
    t.equal(created('Mon 2026-01-01'), undefined, 'a date not at the start (Date.parse would take it)')
    t.equal(created('2026-01-1'), undefined, 'a one-digit day (Date.parse would take it)')
    t.equal(created(['2026-01-01T00:00:00Z']), undefined, 'an array holding one (Date.parse would take it)')
  })

  t.test('the data envelope is used only when the top level has no id', async (t) => {
    t.same(normalizeProfile({ id: 'top', balance: 1, data: { id: 'inner', balance: 2 } }).profile, { id: 'top', balance: 1 })
    t.same(normalizeProfile({ data: { id: 'inner', balance: 2 } }).profile, { id: 'inner', balance: 2 })
    t.throws(() => normalizeProfile({ balance: 1, data: 'not an object' }), { message: /no usable id/ })
    t.throws(() => normalizeProfile([{ id: 'p', balance: 1 }]), { message: 'partner profile is not a JSON object' })
    for (const raw of ['text', 42, null, true]) t.throws(() => normalizeProfile(raw), { message: 'partner profile is not a JSON object' }, JSON.stringify(raw))
  })
})
