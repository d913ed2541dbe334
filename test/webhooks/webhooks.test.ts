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

/** The first fetch after start (the baseline), and the snapshot it sends to each receiver, delivered. */
async function baseline (h: Harness, ...receivers: WebhookReceiver[]): Promise<void> {
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200)
  for (const receiver of receivers) await until('the start-up snapshot delivered', () => receiver.delivered().some((d) => d.payload.type === 'profile.snapshot'))
}

/** What a receiver was delivered, less snapshots. */
const changesOf = (receiver: WebhookReceiver) => receiver.delivered().filter((d) => d.payload.type !== 'profile.snapshot')

t.test('a GST status change reaches an SSE client and a webhook receiver, signed, within one freshness period', async (t) => {
  const billing = await startWebhookReceiver(t)
  const balances = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'billing', receiver: billing, events: ['billing'] }, { name: 'ledger', receiver: balances, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file } })
  // A balance that stays put (the sandbox's drifts with the clock otherwise); the first fetch is the
  // baseline the next ones are compared with.
  h.sandbox.update({ balance: 48250 })
  await baseline(h, billing, balances)
  const stream = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  await stream.next(1)
  await change(h, { gst_status: 'inactive' })
  const [, sse] = await stream.next(2)
  t.equal(sse?.event, 'billing')
  await billing.arrived(2)
  const [delivery] = changesOf(billing)
  t.equal(delivery?.id, `chg_${sse?.id ?? ''}`, 'webhook-id: the change\'s id, as on the stream')
  t.match(delivery?.payload, { type: 'profile.billing', data: { gst_status: 'inactive', changed: ['gst_status'] } })
  t.same(delivery?.payload.data, JSON.parse(sse?.data ?? '{}'), 'the same data as the SSE event')
  t.same(webhookViolations(delivery?.payload ?? {}), [], 'the payload is what the OpenAPI document\'s webhooks section says')
  t.match(billing.requests[1]?.headers, { 'content-type': 'application/json', 'user-agent': 'vobiz-partner-bff' })
  t.equal(changesOf(balances).length, 0, 'an endpoint gets only the classes it subscribed to')
  await change(h, { balance: 100 })
  await balances.arrived(2)
  t.match(changesOf(balances)[0]?.payload, { type: 'profile.balance', data: { balance: 100 } })
  t.same(webhookViolations(changesOf(balances)[0]?.payload ?? {}), [])
  const metrics = await metricsOf(h)
  t.match(metrics, /vobiz_bff_webhook_deliveries_total\{endpoint="billing",result="delivered"\} 2/)
  t.match(metrics, /vobiz_bff_webhook_queue_depth\{endpoint="billing"\} 0/)
})

t.test('a receiver down for a while gets every change afterwards, in order, none twice', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'ledger', receiver, events: ['balance', 'billing'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_BACKOFF_MAX_SECONDS: '1' } })
  h.sandbox.update({ balance: 40000 })
  await baseline(h, receiver)
  receiver.answer({ status: 503, body: 'receiver body never logged' })
  const balances = [41000, 42000, 43000, 44000]
  for (const balance of balances) await change(h, { balance })
  await receiver.arrived(2)
  await until('the queue to hold every change', async () => /vobiz_bff_webhook_queue_depth\{endpoint="ledger"\} 4/.test(await metricsOf(h)))
  receiver.answer({ status: 200 })
  // The backoff is on the app's clock: move it past the longest wait until everything is through.
  await until('every change delivered', () => {
    h.clock.advance(1500)
    return changesOf(receiver).length === balances.length
  })
  const delivered = changesOf(receiver)
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
  await baseline(h, receiver)
  receiver.answer({ status: 307, headers: { location: elsewhere.url } })
  await change(h, { balance: 39000 })
  await until('the redirect to count as a failure', async () => /result="failed"\} 1/.test(await metricsOf(h)))
  receiver.answer('hang')
  h.clock.advance(2000)
  await receiver.arrived(3)
  await until('the timeout to count as a failure', async () => /result="failed"\} 2/.test(await metricsOf(h)))
  t.equal(elsewhere.requests.length, 0, 'the redirect was not followed')
  t.match(h.logs.find((l) => l.msg === 'webhook delivery failed; retrying with backoff'), { reason: 'HTTP 307' })
  // An hour and more later, still undelivered: given up, logged and counted, and replaced by a snapshot.
  receiver.answer({ status: 204 })
  h.clock.advance(3_600_000)
  await until('the change to be given up', async () => /result="expired"\} 1/.test(await metricsOf(h)))
  t.match(h.logs.find((l) => l.msg?.toString().startsWith('webhook given up')), { level: 50, endpoint: 'ledger' })
  await until('the snapshot that replaces it', () => receiver.delivered().length === 2)
  const [, replacement] = receiver.delivered()
  t.match(replacement?.payload, { type: 'profile.snapshot', data: { balance: { balance: 39000 } } }, 'the state the lost change led to')
  t.match(replacement?.id, /^snap_/)
  t.same(webhookViolations(replacement?.payload ?? {}), [])
  t.equal(changesOf(receiver).length, 0)
  await change(h, { balance: 38000 })
  await until('the next change delivered', () => changesOf(receiver).length === 1)
  t.match(changesOf(receiver)[0]?.payload.data, { balance: 38000, previous_balance: 39000 })
})

t.test('WEBHOOKS_FILE is reloaded: endpoints come and go, a bad file changes nothing; a full queue drops its oldest', async (t) => {
  const first = await startWebhookReceiver(t)
  const second = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'first', receiver: first, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_QUEUE_MAX: '2' } })
  h.sandbox.update({ balance: 40000 })
  await baseline(h, first)
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

t.test('a restart without Redis: the first fetch sends every endpoint a snapshot, whatever its events, signed, the same webhook-id on every retry', async (t) => {
  const billing = await startWebhookReceiver(t)
  const ledger = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'billing', receiver: billing, events: ['billing'] }, { name: 'ledger', receiver: ledger, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_BACKOFF_MAX_SECONDS: '1' } })
  // The balance went from 40,000 to 9,000 (under a 10,000 threshold) while the process was down: what it
  // missed is unknown, so the receivers are given the whole state.
  h.sandbox.update({ balance: 9000 })
  ledger.answer({ status: 500 })
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200)
  await ledger.arrived(1)
  ledger.answer({ status: 204 })
  await until('the snapshot delivered after its failure', () => {
    h.clock.advance(1500)
    return ledger.delivered().length === 1
  })
  await until('the billing endpoint\'s snapshot too', () => billing.delivered().length === 1)
  const [snapshot] = ledger.delivered()
  t.equal(ledger.requests[0]?.headers['webhook-id'], snapshot?.id, 'the same webhook-id on the retry')
  t.match(snapshot?.id, /^snap_/)
  t.match(snapshot?.payload, { type: 'profile.snapshot', data: { balance: { balance: 9000 } } })
  t.same(Object.keys(snapshot?.payload.data ?? {}), ['balance'], 'the balance alone for an endpoint that lists only balance changes')
  t.same(webhookViolations(snapshot?.payload ?? {}), [], 'the payload is what the OpenAPI document\'s webhooks section says')
  const [full] = billing.delivered()
  t.match(full?.payload, { type: 'profile.snapshot', data: { balance: { balance: 9000 }, profile: { balance: 9000 } } }, 'an endpoint gets it whatever its events, with the profile its billing changes carry anyway')
  t.same(webhookViolations(full?.payload ?? {}), [])
  const stream = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  const [sse] = await stream.next(1)
  // Later fetches (the clock moved) make the SSE snapshot's as_of newer: the same state otherwise.
  const withoutTimes = (data: any) => ({ balance: { ...data.balance, as_of: undefined }, profile: { ...data.profile, as_of: undefined, updated_at: undefined } })
  t.same(withoutTimes(full?.payload.data), withoutTimes(JSON.parse(sse?.data ?? '{}')), 'the shape and state of the SSE snapshot event')
  t.match(h.logs.find((l) => l.msg === 'first fetch since start: a snapshot is queued to every webhook endpoint'), { endpoints: ['billing', 'ledger'] })
  await change(h, { balance: 8000 })
  await until('the next change', () => changesOf(ledger).length === 1)
  t.equal(ledger.delivered().filter((d) => d.payload.type === 'profile.snapshot').length, 1, 'one snapshot: later fetches compare with the one before')
})

t.test('410 Gone disables the endpoint, logged once; a changed entry or SIGHUP enables it again with a snapshot first', async (t) => {
  const gone = await startWebhookReceiver(t)
  const other = await startWebhookReceiver(t)
  const entries = (events: string[]) => [{ name: 'gone', receiver: gone, events }, { name: 'other', receiver: other, events: ['balance'] }]
  const file = subscriptionsFile(t, entries(['balance']))
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file } })
  const disabled = async (value: number) => { await until(`the gauge at ${value}`, async () => new RegExp(`vobiz_bff_webhook_endpoints_disabled\\{endpoint="gone"\\} ${value}`).test(await metricsOf(h))) }
  h.sandbox.update({ balance: 40000 })
  await baseline(h, gone, other)
  gone.answer({ status: 410 })
  await change(h, { balance: 1 })
  await gone.arrived(2)
  await disabled(1)
  await change(h, { balance: 2 })
  await change(h, { balance: 3 })
  await until('the other endpoint to get every change', () => changesOf(other).length === 3)
  t.equal(gone.requests.length, 2, 'after the 410: no retry, and the later changes are not sent')
  t.equal(h.logs.filter((l) => String(l.msg).startsWith('webhook endpoint answered 410 Gone')).length, 1, 'logged once')
  t.match(h.logs.find((l) => String(l.msg).startsWith('webhook endpoint answered 410 Gone')), { level: 50, endpoint: 'gone' })
  t.match(await metricsOf(h), /vobiz_bff_webhook_endpoints_disabled\{endpoint="other"\} 0/)
  t.match(await metricsOf(h), /vobiz_bff_webhook_queue_depth\{endpoint="gone"\} 0/, 'nothing waits for it')

  // Its entry changes: enabled, and told the state first.
  gone.answer({ status: 204 })
  replaceFile(file, JSON.stringify(entries(['balance', 'billing']).map(({ name, receiver, events }) => ({ name, url: receiver.url, events, secret: receiver.secret }))))
  await until('the snapshot after enabling', () => gone.delivered().length === 2)
  t.match(gone.delivered()[1]?.payload, { type: 'profile.snapshot', data: { balance: { balance: 3 } } })
  await disabled(0)
  t.ok(h.logs.some((l) => String(l.msg).startsWith('webhook endpoint enabled again')))
  await change(h, { balance: 4 })
  await until('changes again', () => changesOf(gone).length === 1)
  t.match(changesOf(gone)[0]?.payload.data, { balance: 4 })

  // Gone again; SIGHUP enables it (the file unchanged).
  gone.answer({ status: 410 })
  await change(h, { balance: 5 })
  await disabled(1)
  gone.answer({ status: 204 })
  process.emit('SIGHUP', 'SIGHUP')
  await until('the snapshot after SIGHUP', () => gone.delivered().length === 4)
  t.match(gone.delivered()[3]?.payload, { type: 'profile.snapshot', data: { balance: { balance: 5 } } })
  await disabled(0)
  t.notMatch(h.rawLogs(), new RegExp(gone.secret.slice(6, 30).replace(/[+/]/g, '.')), 'no secret in the logs')
})

t.test('Retry-After on a 503 or 429 is waited for, at most WEBHOOKS_BACKOFF_MAX_SECONDS, never less than the backoff', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'ledger', receiver, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_BACKOFF_MAX_SECONDS: '60' } })
  const failures = () => h.logs.filter((l) => l.msg === 'webhook delivery failed; retrying with backoff')
  h.sandbox.update({ balance: 40000 })
  await baseline(h, receiver)
  receiver.answer({ status: 503, headers: { 'retry-after': '20' } })
  await change(h, { balance: 1 })
  await until('the first failure logged', () => failures().length === 1)
  t.match(failures()[0], { reason: 'HTTP 503', retry_in_ms: 20000 }, 'the receiver\'s 20 s, not the 1 s backoff')
  receiver.answer({ status: 429, headers: { 'retry-after': '86400' } })
  h.clock.advance(20_000)
  await receiver.arrived(3)
  receiver.answer({ status: 204 })
  // The tenth failure and the first are logged: the second is seen in the state it left behind.
  await until('the second failure counted', async () => /result="failed"\} 2/.test(await metricsOf(h)))
  await until('the backoff reported', async () => /vobiz_bff_webhook_consecutive_failures\{endpoint="ledger"\} 2/.test(await metricsOf(h)))
  // 59 s after the 429 (the change moves the clock 1 s more): not due yet, whenever the deliverer looks.
  h.clock.advance(58_000)
  await change(h, { balance: 2 })
  t.equal(receiver.requests.length, 3, 'not before the 60 s cap is over, although a change woke the deliverer')
  h.clock.advance(1000)
  await until('delivered once the wait is over', () => changesOf(receiver).length === 2)
  t.same(changesOf(receiver).map((d) => d.payload.data.balance), [1, 2])
})

t.test('a full queue: one line when it starts dropping, one with the total when it has room again; a snapshot follows what survived', async (t) => {
  const receiver = await startWebhookReceiver(t)
  const file = subscriptionsFile(t, [{ name: 'ledger', receiver, events: ['balance'] }])
  const h = await startHarness(t, { env: { BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: file, WEBHOOKS_QUEUE_MAX: '2', WEBHOOKS_BACKOFF_MAX_SECONDS: '1' } })
  h.sandbox.update({ balance: 40000 })
  await baseline(h, receiver)
  receiver.answer({ status: 500 })
  for (const balance of [1, 2, 3, 4, 5]) await change(h, { balance })
  await until('three changes dropped', async () => /vobiz_bff_webhook_deliveries_total\{endpoint="ledger",result="dropped"\} 3/.test(await metricsOf(h)))
  const full = h.logs.filter((l) => String(l.msg).startsWith('webhook queue full'))
  t.equal(full.length, 1, 'one line for the episode, not one per drop')
  t.match(full[0], { level: 50, endpoint: 'ledger', dropped: 1 })
  receiver.answer({ status: 204 })
  await until('the rest delivered', () => {
    h.clock.advance(1500)
    return receiver.delivered().length === 4
  })
  const [, snapshot, ...rest] = receiver.delivered()
  t.match(snapshot?.payload, { type: 'profile.snapshot', data: { balance: { balance: 3 } } }, 'the state as of the first drop, where the gap was')
  t.same(rest.map((d) => d.payload.data.balance), [4, 5], 'then what came after it, in order')
  await until('the end of the episode logged', () => h.logs.some((l) => String(l.msg).startsWith('webhook queue has room again')))
  t.match(h.logs.filter((l) => String(l.msg).startsWith('webhook queue has room again')), [{ endpoint: 'ledger', dropped: 3 }])
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
