import t from 'tap'
import { detectChanges } from '../../src/changes/detector.ts'
import { PROFILE_EXAMPLE } from '../../src/schemas/profile.ts'

const base = { ...PROFILE_EXAMPLE, balance: 5000 }

t.test('changes are classified by the fields that differ', async (t) => {
  t.same(detectChanges(base, { ...base }, []), [], 'the same profile: nothing')
  t.same(detectChanges(base, { ...base, gst_status: 'inactive' }, []), [{ class: 'billing', fields: ['gst_status'], crossings: [] }])
  t.same(detectChanges(base, { ...base, status: 'suspended', tds_percentage: 1 }, []).map((c) => [c.class, c.fields]), [['billing', ['tds_percentage', 'status']]])
  t.same(detectChanges(base, { ...base, email: 'new@example.com', balance: 4999.5 }, []).map((c) => [c.class, c.fields]), [['contact', ['email']], ['balance', ['balance']]], 'several classes, in a fixed order')
  const { gstin: _gone, ...withoutGstin } = base
  t.same(detectChanges(base, withoutGstin, []).map((c) => c.fields), [['gstin']], 'a field that goes away is a change')
  t.same(detectChanges(base, { ...base, currency: 'USD' }, []).map((c) => [c.class, c.fields]), [['balance', ['currency']]])
  t.same(detectChanges(base, { ...base, updated_at: '2030-01-01T00:00:00Z', created_at: '2000-01-01T00:00:00Z' }, []), [], 'timestamps alone are no change')
})

t.test('a threshold is crossed once each way, whatever happens on either side', async (t) => {
  const thresholds = [1000, 10000]
  const at = (balance: number) => ({ ...base, balance })
  t.same(detectChanges(at(12000), at(9000), thresholds)[0]?.crossings, [{ threshold: 10000, direction: 'below' }])
  t.same(detectChanges(at(9000), at(8000), thresholds)[0]?.crossings, [], 'still below: no crossing')
  t.same(detectChanges(at(12000), at(500), thresholds)[0]?.crossings, [{ threshold: 10000, direction: 'below' }, { threshold: 1000, direction: 'below' }], 'both at once, highest first')
  t.same(detectChanges(at(500), at(1000), thresholds)[0]?.crossings, [{ threshold: 1000, direction: 'above' }], 'reaching a threshold is being back above it')
  t.same(detectChanges(at(1000), at(999.99), thresholds)[0]?.crossings, [{ threshold: 1000, direction: 'below' }])
})

t.test('every field of the profile but the id and the timestamps belongs to one class, and changing it alone reports that class', async (t) => {
  const changed: Array<[keyof typeof base, unknown, string]> = [
    ['balance', 4000, 'balance'],
    ['currency', 'USD', 'balance'],
    ['gstin', '27ABCDE1234F1Z5', 'billing'],
    ['gst_status', 'inactive', 'billing'],
    ['tds_applicable', false, 'billing'],
    ['tds_percentage', 10, 'billing'],
    ['account_type', 'reseller', 'billing'],
    ['status', 'suspended', 'billing'],
    ['name', 'Acme Telecom Ltd', 'contact'],
    ['email', 'accounts@acme.example', 'contact'],
    ['phone', '+919800000000', 'contact'],
    ['company', 'Acme Holdings', 'contact']
  ]
  for (const [field, value, cls] of changed) {
    t.same(detectChanges(base, { ...base, [field]: value }, []), [{ class: cls, fields: [field], crossings: [] }], `${field} is ${cls}`)
  }
})

t.test('only the balance change carries crossings, even when other classes change in the same fetch', async (t) => {
  const changes = detectChanges({ ...base, balance: 12000 }, { ...base, balance: 9000, status: 'suspended', name: 'Renamed' }, [10000])
  t.same(changes, [
    { class: 'billing', fields: ['status'], crossings: [] },
    { class: 'contact', fields: ['name'], crossings: [] },
    { class: 'balance', fields: ['balance'], crossings: [{ threshold: 10000, direction: 'below' }] }
  ])
})

t.test('landing exactly on a threshold from above, or leaving it upwards, crosses nothing', async (t) => {
  const at = (balance: number) => ({ ...base, balance })
  t.same(detectChanges(at(1200), at(1000), [1000])[0]?.crossings, [], 'from above to exactly the threshold: still at or above it')
  t.same(detectChanges(at(1000), at(1200), [1000])[0]?.crossings, [], 'from exactly the threshold upwards: it was never below')
})
