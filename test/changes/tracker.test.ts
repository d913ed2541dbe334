import t from 'tap'
import { MemoryFeed } from '../../src/changes/feed.ts'
import { ChangeTracker } from '../../src/changes/tracker.ts'
import type { ChangeEventData } from '../../src/schemas/events.ts'
import { PROFILE_EXAMPLE } from '../../src/schemas/profile.ts'
import { Value } from 'typebox/value'
import { BalanceEvent, BillingEvent, ContactEvent } from '../../src/schemas/events.ts'

t.test('each newer fetch is compared with the one before; what changed is published in the routes\' shapes', async (t) => {
  const feed = new MemoryFeed<ChangeEventData>({ capacity: 10, now: () => 0 })
  const detected: string[] = []
  const tracker = new ChangeTracker({ feed, thresholds: [40000], onChange: (cls) => detected.push(cls) })
  const base = { ...PROFILE_EXAMPLE, balance: 48250 }

  tracker.observe(base, 1000)
  t.equal(feed.lastId, '0-0', 'the first fetch is the baseline, not a change')
  tracker.observe({ ...base, gst_status: 'inactive', balance: 39000.5 }, 2000)
  tracker.observe({ ...base, balance: 1 }, 1500)
  t.same(tracker.latest?.fetchedAt, 2000, 'an older copy handed back later changes nothing')
  const resume = feed.since('0-0')
  t.equal(resume.kind, 'events')
  const events = resume.kind === 'events' ? resume.events : []
  t.same(events.map((e) => [e.id, e.class]), [['2000-0', 'billing'], ['2000-1', 'balance']])
  t.same(detected, ['billing', 'balance'])

  const [billing, balance] = events.map((e) => e.data)
  t.ok(Value.Check(BillingEvent, billing), 'the billing event has its published schema')
  t.match(billing, { id: base.id, gst_status: 'inactive', changed: ['gst_status'], as_of: '1970-01-01T00:00:02.000Z' })
  t.ok(Value.Check(BalanceEvent, balance), 'the balance event has its published schema')
  t.same(balance, { partner_id: base.id, balance: 39000.5, currency: 'INR', as_of: '1970-01-01T00:00:02.000Z', previous_balance: 48250, changed: ['balance'], crossed: [{ threshold: 40000, direction: 'below' }] })

  tracker.observe({ ...base, gst_status: 'inactive', balance: 39000.5, phone: '+910000000000' }, 3000)
  const contact = feed.since('2000-1')
  t.ok(contact.kind === 'events' && Value.Check(ContactEvent, contact.events[0]?.data), 'contact events too')
  tracker.observe({ ...base, gst_status: 'inactive', balance: 39000.5, phone: '+910000000000' }, 4000)
  t.equal(feed.lastId, '3000-0', 'a fetch that changed nothing publishes nothing')
  const { currency: _none, ...withoutCurrency } = { ...base, gst_status: 'inactive' as const, balance: 39000.5, phone: '+910000000000' }
  tracker.observe(withoutCurrency, 5000)
  const gone = feed.since('3000-0')
  t.same(gone.kind === 'events' ? gone.events.map((e) => [e.class, e.data]) : gone, [['balance', { partner_id: base.id, balance: 39000.5, as_of: '1970-01-01T00:00:05.000Z', previous_balance: 39000.5, changed: ['currency'], crossed: [] }]], 'a currency Vobiz stops sending is a balance change, and is omitted as the route omits it')
})
