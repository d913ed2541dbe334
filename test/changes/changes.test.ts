import t from 'tap'
import { startHarness } from '../helpers/harness.ts'

// The tracker on the real cache: every load the service makes is compared with the one before.

t.test('a change at Vobiz is detected on the next fetch, classified, counted, and kept for subscribers', async (t) => {
  const h = await startHarness(t, { env: { BALANCE_THRESHOLDS: '40000, 1000', METRICS_TOKEN: 'changes-test-metrics-token' } })
  const { feed } = h.app.changes
  const refresh = async () => await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
  h.sandbox.update({ balance: 48250 })
  await refresh()
  const start = feed.lastId
  t.same(feed.since(start), { kind: 'events', events: [] }, 'the first fetch is the baseline')

  h.sandbox.update({ gst_status: 'inactive', balance: 39000 })
  h.clock.advance(1000)
  await refresh()
  await refresh()
  const resume = feed.since(start)
  t.same(resume.kind === 'events' ? resume.events.map((e) => [e.class, (e.data as { changed: string[] }).changed]) : resume, [['billing', ['gst_status']], ['balance', ['balance']]], 'once, however often it is fetched again')
  t.match(resume.kind === 'events' ? resume.events[1]?.data : undefined, { crossed: [{ threshold: 40000, direction: 'below' }] })

  const metrics = await h.app.metrics.registry.metrics()
  t.match(metrics, /^vobiz_bff_change_events_total\{class="billing"\} 1$/m)
  t.match(metrics, /^vobiz_bff_change_events_total\{class="balance"\} 1$/m)
})
