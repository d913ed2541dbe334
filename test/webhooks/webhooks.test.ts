import { join } from 'node:path'
import t from 'tap'
import { webhookViolations } from '../helpers/contract.ts'
import { directory, replaceFile } from '../helpers/files.ts'
import { startHarness, type Harness } from '../helpers/harness.ts'
import { openEventStream } from '../helpers/sse.ts'
import { until } from '../helpers/time.ts'
import { startWebhookReceiver, webhookSecret, type WebhookReceiver } from '../helpers/webhook-receiver.ts'

// Webhooks in one process (memory queue): the harness's clock drives keep-fresh and the backoff, a real
// receiver on a loopback port verifies every delivery with the standardwebhooks verifier.

const subscriptionsFile = (t: Parameters<typeof directory>[0], list: Array<{ name: string, receiver: Pick<WebhookReceiver, 'url' | 'secret'>, events: string[] }>): string => {
  const dir = directory(t)
  const path = join(dir, 'webhooks.json')
  replaceFile(path, JSON.stringify(list.map(({ name, receiver, events }) => ({ name, url: receiver.url, events, secret: receiver.secret }))))
  return path
}

const metricsOf = async (h: Harness): Promise<string> => await h.app.metrics.registry.metrics()

/** Changes the sandbox's profile and moves the clock a balance period on: keep-fresh fetches, and the change is detected. */
async function change (h: Harness, fields: Record<string, unknown>): Promise<void> {
  h.sandbox.update(fields)
  const fetched = h.sandbox.requests
  h.clock.advance(1000)
  await h.sandbox.received(fetched + 1)
}

t.test('a GST status change reaches an SSE client and a webhook receiver, signed, within one freshness period', async (t) => {
  const billing = await startWebhookReceiver(t)
  const balances = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'billing', receiver: billing, events: ['billing'] }, { name: 'ledger', receiver: balances, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file } })
  // A balance that stays put (the sandbox's drifts with the clock otherwise); the first fetch is the
  // baseline the next ones are compared with.
  h.sandbox.update({ balance: 48250 })
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200)
  const stream = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  await stream.next(1)
  await change(h, { gst_status: 'inactive' })
  const [, sse] = await stream.next(2)
  t.equal(sse?.event, 'billing')
  await billing.arrived(1)
  const [delivery] = billing.delivered()
  t.equal(delivery?.id, `chg_${sse?.id ?? ''}`, 'webhook-id: the change\'s id, as on the stream')
  t.match(delivery?.payload, { type: 'profile.billing', data: { gst_status: 'inactive', changed: ['gst_status'] } })
  t.same(delivery?.payload.data, JSON.parse(sse?.data ?? '{}'), 'the same data as the SSE event')
  t.same(webhookViolations(delivery?.payload ?? {}), [], 'the payload is what the OpenAPI document\'s webhooks section says')
  t.match(billing.requests[0]?.headers, { 'content-type': 'application/json', 'user-agent': 'vobiz-partner-bff' })
  t.equal(balances.requests.length, 0, 'an endpoint gets only the classes it subscribed to')
  await change(h, { balance: 100 })
  await balances.arrived(1)
  t.match(balances.delivered()[0]?.payload, { type: 'profile.balance', data: { balance: 100 } })
  t.same(webhookViolations(balances.delivered()[0]?.payload ?? {}), [])
  const metrics = await metricsOf(h)
  t.match(metrics, /vobiz_bff_webhook_deliveries_total\{endpoint="billing",result="delivered"\} 1/)
  t.match(metrics, /vobiz_bff_webhook_queue_depth\{endpoint="billing"\} 0/)
})

t.test('a receiver down for a while gets every change afterwards, in order, none twice', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'ledger', receiver, events: ['balance', 'billing'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_BACKOFF_MAX_SECONDS: '1' } })
  h.sandbox.update({ balance: 40000 })
  await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  receiver.answer({ status: 503, body: 'receiver body never logged' })
  const balances = [41000, 42000, 43000, 44000]
  for (const balance of balances) await change(h, { balance })
  await receiver.arrived(1)
  await until('the queue to hold every change', async () => /vobiz_bff_webhook_queue_depth\{endpoint="ledger"\} 4/.test(await metricsOf(h)))
  receiver.answer({ status: 200 })
  // The backoff is on the app's clock: move it past the longest wait until everything is through.
  await until('every change delivered', () => {
    h.clock.advance(1500)
    return receiver.delivered().length === balances.length
  })
  const delivered = receiver.delivered()
  t.same(delivered.map((d) => d.payload.data.balance), balances, 'in order')
  t.equal(new Set(delivered.map((d) => d.id)).size, balances.length, 'none twice')
  t.ok(receiver.requests.filter((r) => r.status === 503).every((r) => r.headers['webhook-id'] === delivered[0]?.id), 'the queue waited behind its oldest change')
  const metrics = await metricsOf(h)
  t.match(metrics, /vobiz_bff_webhook_deliveries_total\{endpoint="ledger",result="failed"\} [1-9]/)
  t.match(metrics, /vobiz_bff_webhook_consecutive_failures\{endpoint="ledger"\} 0/)
  t.notMatch(h.rawLogs(), /receiver body never logged/, 'the response body is never logged')
  t.match(h.logs.find((l) => l.msg === 'webhook delivery failed; retrying with backoff'), { endpoint: 'ledger', reason: 'HTTP 503', failures: 1 })
  t.ok(h.logs.some((l) => l.msg === 'webhook endpoint delivering again'))
})

t.test('no redirect is followed, a slow receiver times out, a change is given up after WEBHOOKS_RETRY_HOURS', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const elsewhere = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'ledger', receiver, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_TIMEOUT_MS: '200', WEBHOOKS_RETRY_HOURS: '1' } })
  h.sandbox.update({ balance: 40000 })
  await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  receiver.answer({ status: 307, headers: { location: elsewhere.url } })
  await change(h, { balance: 39000 })
  await until('the redirect to count as a failure', async () => /result="failed"\} 1/.test(await metricsOf(h)))
  receiver.answer('hang')
  h.clock.advance(2000)
  await receiver.arrived(2)
  await until('the timeout to count as a failure', async () => /result="failed"\} 2/.test(await metricsOf(h)))
  t.equal(elsewhere.requests.length, 0, 'the redirect was not followed')
  t.match(h.logs.find((l) => l.msg === 'webhook delivery failed; retrying with backoff'), { reason: 'HTTP 307' })
  // An hour and more later, still undelivered: given up, logged and counted; the queue moves on.
  receiver.answer({ status: 204 })
  h.clock.advance(3_600_000)
  await until('the change to be given up', async () => /result="expired"\} 1/.test(await metricsOf(h)))
  t.match(h.logs.find((l) => l.msg?.toString().startsWith('webhook given up')), { level: 50, endpoint: 'ledger' })
  t.equal(receiver.delivered().length, 0)
  await change(h, { balance: 38000 })
  await until('the next change delivered', () => receiver.delivered().length === 1)
  t.match(receiver.delivered()[0]?.payload.data, { balance: 38000, previous_balance: 39000 })
})

t.test('WEBHOOKS_FILE is reloaded: endpoints come and go, a bad file changes nothing; a full queue drops its oldest', async (t) => {
  const first = await startWebhookReceiver(t)
  const second = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'first', receiver: first, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_QUEUE_MAX: '2' } })
  h.sandbox.update({ balance: 40000 })
  await h.get('/profile/balance', { 'x-api-key': h.keys.profile })
  first.answer({ status: 500 })
  for (const balance of [1, 2, 3]) await change(h, { balance })
  await until('the oldest change dropped', async () => /vobiz_bff_webhook_deliveries_total\{endpoint="first",result="dropped"\} 1/.test(await metricsOf(h)))
  t.match(h.logs.find((l) => l.msg?.toString().startsWith('webhook queue full')), { endpoint: 'first', dropped: 1 })

  replaceFile(file, '[{"name":"second","url":"ftp://example.com","events":["balance"],"secret":"whsec_x"}]')
  await until('the bad file refused', () => h.logs.some((l) => l.reload === 'webhooks'))
  t.notMatch(h.rawLogs(), /whsec_x|ftp:\/\/example/, 'a refused file is not echoed')
  replaceFile(file, JSON.stringify([{ name: 'second', url: second.url, events: ['balance', 'billing'], secret: second.secret }]))
  await until('the new list', () => h.logs.some((l) => l.msg === 'webhook subscriptions reloaded'))
  t.match(h.logs.find((l) => l.msg === 'webhook subscriptions reloaded'), { endpoints: 1, added: ['second'], removed: ['first'] })
  await change(h, { status: 'suspended' })
  await second.arrived(1)
  t.match(second.delivered()[0]?.payload, { type: 'profile.billing', data: { status: 'suspended' } })
  t.notOk(/endpoint="first"/.test((await metricsOf(h)).split('\n').filter((l) => l.includes('queue_depth')).join('\n')), 'a removed endpoint is no longer reported')
  t.notMatch(h.rawLogs(), new RegExp(second.secret.slice(6, 30).replace(/[+/]/g, '.')), 'no secret in the logs')

  // The same endpoint with other events keeps its deliverer; an empty list stops every one.
  replaceFile(file, JSON.stringify([{ name: 'second', url: second.url, events: ['contact'], secret: second.secret }]))
  await until('the changed list', () => h.logs.filter((l) => l.msg === 'webhook subscriptions reloaded').length === 2)
  await change(h, { balance: 7 })
  await change(h, { name: 'Renamed Ltd' })
  await second.arrived(2)
  t.match(second.delivered()[1]?.payload, { type: 'profile.contact' }, 'the balance change was not for it any more')
  replaceFile(file, '[]')
  await until('the empty list', () => h.logs.some((l) => l.msg === 'webhook subscriptions reloaded' && l.endpoints === 0))
  t.match(h.logs.filter((l) => l.msg === 'webhook subscriptions reloaded').at(-1), { removed: ['second'] })
})

t.test('WEBHOOKS_FILE is checked at start: the entry and the rule are named, never a value', async (t) => {
  const { loadConfig, ConfigError } = await import('../../src/config.ts')
  const secret = webhookSecret()
  const problems = (list: unknown): string[] => {
    const dir = directory(t, { 'webhooks.json': typeof list === 'string' ? list : JSON.stringify(list) })
    try {
      loadConfig({ VOBIZ_SANDBOX: 'true', WEBHOOKS_FILE: join(dir, 'webhooks.json') })
      return []
    } catch (err) {
      t.ok(err instanceof ConfigError)
      return (err as InstanceType<typeof ConfigError>).problems
    }
  }
  const entry = { name: 'ledger', url: 'https://ledger.example/hooks', events: ['balance'], secret }
  t.same(problems([entry]), [])
  t.match(problems('{'), [/WEBHOOKS_FILE: not valid JSON/])
  t.match(problems([{ ...entry, url: 'http://ledger.example/hooks' }]), [/entry \/0 \(ledger\): the url is http:\/\/ \(expected https:\/\/; http:\/\/ only for a loopback host\)/])
  t.match(problems([{ ...entry, url: 'https://user:pass@ledger.example/' }]), [/carries credentials/])
  t.match(problems([{ ...entry, url: 'https://ledger.example/#x' }]), [/has a fragment/])
  t.match(problems([{ ...entry, url: 'not a url' }]), [/is not a URL/])
  t.match(problems([entry, entry]), [/"ledger" appears twice/])
  t.match(problems([{ ...entry, secret: 'hunter2' }]), [/WEBHOOKS_FILE: entry \/0/])
  t.match(problems([{ ...entry, events: ['everything'] }]), [/WEBHOOKS_FILE: entry \/0/])
  t.equal(problems([{ ...entry, events: ['everything'], secret: 'x' }]).length, 1, 'one line per entry')
  t.match(problems({}), [/the top level/])
  t.notMatch(problems([{ ...entry, secret: `${secret}!` }]).join('\n'), secret, 'the secret is never echoed')
  t.throws(() => loadConfig({ VOBIZ_SANDBOX: 'true', WEBHOOKS_FILE: '/no/such/file.json' }), /WEBHOOKS_FILE: cannot read "\/no\/such\/file.json" \(ENOENT\)/)
})
