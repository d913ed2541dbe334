import t from 'tap'
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
