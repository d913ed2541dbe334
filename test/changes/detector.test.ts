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
