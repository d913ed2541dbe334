import { join } from 'node:path'
import t from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import { directory, replaceFile } from '../helpers/files.ts'
import { consumersJson, httpGet, startHarness, type Harness } from '../helpers/harness.ts'
import { openEventStream } from '../helpers/sse.ts'
import { until } from '../helpers/time.ts'
import { startWebhookReceiver } from '../helpers/webhook-receiver.ts'

// Vobiz (the sandbox, a real HTTP server) answers 200 with a configured secret inside the profile's string
// fields. What consumers receive is made from the one profile the gate lets through: none of it may carry a
// secret — bodies, headers, event streams, webhook payloads, metrics.

/** Every string field of the profile, echoing `secret` (within each field's length limit). */
const echoing = (secret: string) => ({ name: `Acme ${secret}`, email: `${secret}@acme.example`, phone: secret, company: `${secret} Pvt Ltd`, account_type: secret, gstin: secret })

const withheldCount = async (h: Harness, field: string, reason: string): Promise<number> => {
  const line = (await h.app.metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`vobiz_bff_upstream_fields_withheld_total{field="${field}",reason="${reason}"}`))
  return Number(line?.split(' ')[1] ?? 0)
}

t.test('a secret Vobiz echoes in any string field reaches no consumer: /profile, /profile/balance, the event stream, a webhook, /metrics', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const dir = directory(t, { 'webhooks.json': JSON.stringify([{ name: 'crm', url: receiver.url, events: ['contact', 'billing'], secret: receiver.secret }]) })
  const metricsToken = 'metrics-token-never-served-0123'
  const h = await startHarness(t, { env: { WEBHOOKS_FILE: join(dir, 'webhooks.json'), METRICS_TOKEN: metricsToken } })
  const secrets = {
    'the Vobiz token': h.sandbox.authToken,
    'the Vobiz auth ID': h.sandbox.authId,
    'a profile:read key': h.keys.profile,
    'a balance:read key': h.keys.balance,
    'the metrics token': metricsToken,
    'a webhook secret': receiver.secret
  }
  const received: string[] = []
  for (const [name, secret] of Object.entries(secrets)) {
    h.sandbox.update(echoing(secret))
    const profile = await h.get('/profile', { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' })
    t.equal(profile.status, 200, `${name}: the profile is served`)
    t.same(Object.keys(echoing(secret)).filter((field) => field in profile.json()), [], `${name}: without any field that echoed it`)
    const balance = await h.get('/profile/balance', { 'x-api-key': h.keys.balance })
    t.equal(balance.status, 200)
    const stream = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
    const [snapshot] = await stream.next(1)
    stream.close()
    t.same(JSON.parse(snapshot?.data ?? '{}').profile, { ...profile.json(), as_of: balance.json().as_of }, `${name}: the stream's snapshot is the same profile`)
    const metrics = await httpGet(`${h.url}/metrics`, { authorization: `Bearer ${metricsToken}` })
    t.match(metrics.text, /vobiz_partner_info\{[^}]*account_type=""\} 1/, `${name}: no metric label carries it`)
    received.push(JSON.stringify(profile.headers), profile.text, JSON.stringify(balance.headers), balance.text, JSON.stringify(stream.headers), stream.text(), metrics.text)
  }
  await until('the start-up snapshot delivered to the webhook endpoint', () => receiver.delivered().some((d) => d.payload.type === 'profile.snapshot'))
  const delivered = receiver.delivered().find((d) => d.payload.type === 'profile.snapshot')
  t.ok(delivered?.payload.data.profile.id, 'the webhook snapshot carries the profile')
  t.notOk('name' in (delivered?.payload.data.profile ?? {}), 'without the field that echoed the token')
  received.push(...receiver.requests.map((r) => `${JSON.stringify(r.headers)}\n${r.body}`))
  const everything = received.join('\n')
  for (const [name, secret] of Object.entries(secrets)) {
    t.notOk(everything.includes(secret), `${name} reached no consumer`)
    t.notOk(h.rawLogs().includes(secret), `${name} reached no log line`)
  }
  t.equal(await withheldCount(h, 'name', 'secret'), h.sandbox.requests, 'counted on every fetch, by field and reason')
  t.equal(await withheldCount(h, 'gstin', 'unusable') + await withheldCount(h, 'gstin', 'secret'), h.sandbox.requests, 'a GSTIN too long to be one is unusable first (keys, webhook secrets)')
  t.match(h.logs.find((l) => l.level === 50 && /configured secret/.test(String(l.msg))), { withheld: ['name', 'email', 'phone', 'company', 'gstin', 'account_type'] }, 'logged, naming fields, never values')
})

t.test('the partner id: published when it is exactly the Vobiz auth ID; an id holding a secret refuses the answer (502), counted and logged once', async (t) => {
  const h = await startHarness(t)
  const reader = { 'x-api-key': h.keys.profile }
  for (const id of [`partner-${h.sandbox.authToken}`, `${h.sandbox.authId}-2`]) {
    h.sandbox.update({ id })
    const refused = await h.get('/profile', { ...reader, 'cache-control': 'no-cache' })
    t.equal(refused.status, 502)
    t.match(refused.json(), { code: 'upstream_invalid_response' })
    t.notOk(refused.text.includes(id), 'the problem does not repeat the id')
    const balance = await h.get('/profile/balance', { 'x-api-key': h.keys.balance, 'cache-control': 'no-cache' })
    t.equal(balance.status, 502, 'nor does a balance:read key get it as partner_id')
  }
  t.equal(await withheldCount(h, 'id', 'secret'), h.sandbox.requests, 'every refusal counted')
  t.equal(h.logs.filter((l) => l.level === 50 && /configured secret/.test(String(l.msg))).length, 1, 'the withheld id logged once')
  t.notOk(h.rawLogs().includes(h.sandbox.authToken))

  // Some accounts' partner id is their auth ID: the public half of the credential, worthless without the token.
  h.sandbox.update({ id: h.sandbox.authId, name: `Acme ${h.sandbox.authId}` })
  const profile = await h.get('/profile', { ...reader, 'cache-control': 'no-cache' })
  t.equal(profile.status, 200)
  t.equal(profile.json().id, h.sandbox.authId, 'the id that is exactly the auth ID is published')
  t.notOk('name' in profile.json(), 'the auth ID inside free text is still withheld')
  t.equal((await h.get('/profile/balance', { 'x-api-key': h.keys.balance })).json().partner_id, h.sandbox.authId)
  t.match(h.logs.filter((l) => l.level === 50 && /configured secret/.test(String(l.msg))).at(-1), { withheld: ['name'] }, 'a new set of withheld fields is logged again')
})

t.test('secrets added by a reload (a rotated Vobiz token, a new consumer key) are withheld from the next fetch on', async (t) => {
  const before = generateApiKey()
  const added = generateApiKey()
  const dir = directory(t, { token: 'initial-token-0123456789\n', 'consumers.json': consumersJson({ reader: { key: before, scopes: ['profile:read'] } }) })
  const h = await startHarness(t, {
    sandbox: { authToken: 'initial-token-0123456789' },
    env: { VOBIZ_AUTH_TOKEN: '', VOBIZ_AUTH_TOKEN_FILE: join(dir, 'token'), CONSUMERS: '', CONSUMERS_FILE: join(dir, 'consumers.json') }
  })
  const reader = { 'x-api-key': before, 'cache-control': 'no-cache' }
  h.sandbox.update({ name: 'Acme rotated-token-0123456789', company: `${added} Pvt Ltd` })
  t.match((await h.get('/profile', reader)).json(), { name: 'Acme rotated-token-0123456789' }, 'not yet a secret: served')

  replaceFile(join(dir, 'consumers.json'), consumersJson({ reader: { key: before, scopes: ['profile:read'] }, added: { key: added, scopes: ['balance:read'] } }))
  replaceFile(join(dir, 'token'), 'rotated-token-0123456789\n')
  await until('both reloads', () => h.logs.some((l) => String(l.msg).startsWith('vobiz credentials reloaded')) && h.logs.some((l) => l.msg === 'consumers reloaded'))
  h.sandbox.authToken = 'rotated-token-0123456789'
  const after = await h.get('/profile', reader)
  t.equal(after.status, 200)
  t.notOk('name' in after.json(), 'the rotated token is withheld')
  t.notOk('company' in after.json(), 'the new consumer\'s key is withheld')
  t.notOk(after.text.includes(added))
})
