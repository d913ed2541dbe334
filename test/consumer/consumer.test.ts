import t from 'tap'
import { startHarness } from '../helpers/harness.ts'
import { vobizBffClient } from './vobiz-bff-client.ts'

t.test('a consumer using openapi-fetch with the generated types reads both routes', async (t) => {
  const h = await startHarness(t)
  const reader = vobizBffClient(h.url, h.keys.profile)
  const profile = await reader.profile()
  t.equal(profile.id, 'partner-882abc')
  t.equal(profile.gst_status, 'active')
  const balance = await reader.balance()
  t.equal(balance.partner_id, profile.id)
  t.equal(typeof balance.balance, 'number')
  const fresh = await reader.balance({ fresh: true })
  t.ok(Date.parse(fresh.as_of) >= Date.parse(balance.as_of))
  t.equal(h.sandbox.requests, 2)

  const billing = vobizBffClient(h.url, h.keys.balance)
  t.equal((await billing.balance()).currency, 'INR')
  await t.rejects(billing.profile(), /GET \/profile: 403 insufficient_scope/)

  t.same(await vobizBffClient(h.url, 'wrong').balanceProblem(), { status: 401, code: 'invalid_api_key' })
})
