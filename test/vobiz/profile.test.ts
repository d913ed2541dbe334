import t from 'tap'
import { normalizeProfile } from '../../src/vobiz/profile.ts'

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

t.test('prototype-polluting keys are inert', async (t) => {
  const { profile } = normalizeProfile(JSON.parse('{"id":"p","balance":1,"__proto__":{"admin":true},"constructor":{"x":1}}'))
  t.same(Object.keys(profile), ['id', 'balance'])
  t.equal(({} as Record<string, unknown>).admin, undefined)
})
