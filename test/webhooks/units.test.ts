import t from 'tap'
import { PROFILE_EXAMPLE } from '../../src/schemas/profile.ts'
import { MemoryWebhookQueue, resyncOf, type WebhookQueue } from '../../src/webhooks/queue.ts'
import { SubscriptionRegistry } from '../../src/webhooks/registry.ts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { send } from '../../src/webhooks/send.ts'
import { backoffMs, EndpointWorker } from '../../src/webhooks/worker.ts'
import { until } from '../helpers/time.ts'
import { webhookSecret } from '../helpers/webhook-receiver.ts'

/** For queues that never fill in a test: a snapshot is never asked for. */
const noSnapshot = (): never => { throw new Error('no snapshot expected') }

t.test('backoff: 1 s doubling to the cap, within ±25%', async (t) => {
  for (const [failures, base] of [[1, 1000], [2, 2000], [5, 16000], [40, 3_600_000]] as const) {
    const wait = backoffMs(failures, 3_600_000)
    t.ok(wait >= base * 0.75 && wait <= base * 1.25, `after ${failures} failures: ${wait} ms`)
  }
})

t.test('the memory queue removes only the change it was told', async (t) => {
  const queue = new MemoryWebhookQueue({ max: 10, drops: { dropped: () => {}, room: () => {} } })
  queue.enqueue(['a'], { id: '1-0', class: 'balance', data: {}, detectedAt: 1 }, noSnapshot)
  await queue.remove('a', '9-9')
  t.equal((await queue.stats('a')).depth, 1)
  await queue.remove('a', '1-0')
  t.same(await queue.stats('a'), { depth: 0, oldestAt: undefined })
})

t.test('routes: the endpoints subscribed to a class', async (t) => {
  const registry = new SubscriptionRegistry([
    { name: 'a', url: 'https://a.example', events: ['balance'], secret: 'whsec_' },
    { name: 'b', url: 'https://b.example', events: ['balance', 'billing'], secret: 'whsec_' }
  ])
  t.same(registry.routes('balance'), ['a', 'b'])
  t.same(registry.routes('billing'), ['b'])
  t.same(registry.routes('contact'), [])
})

const log = () => {
  const lines: Array<{ level: string, fields: Record<string, unknown>, msg: string }> = []
  const at = (level: string) => (fields: Record<string, unknown>, msg: string) => { lines.push({ level, fields, msg }) }
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as any
}

t.test('the worker: a queue that fails is logged once and tried again; a class the endpoint no longer wants is skipped', async (t) => {
  const queue = new MemoryWebhookQueue({ max: 10, drops: { dropped: () => {}, room: () => {} } })
  let failures = 2
  // The memory queue, whose store fails twice (as Redis can).
  const flaky: WebhookQueue = {
    lead: async () => await queue.lead(),
    resign: async (endpoint) => { await queue.resign(endpoint) },
    head: async (endpoint) => await queue.head(endpoint),
    remove: async (endpoint, id) => { await queue.remove(endpoint, id) },
    resync: async (endpoint, snapshot) => { await queue.resync(endpoint, snapshot) },
    clear: async (endpoint) => { await queue.clear(endpoint) },
    setState: async (endpoint, state) => { await queue.setState(endpoint, state) },
    stats: async (endpoint) => await queue.stats(endpoint),
    state: async (endpoint) => {
      if (failures-- > 0) throw new Error('redis command timed out after 200 ms')
      return await queue.state(endpoint)
    }
  }
  let events = ['balance', 'billing']
  const sent: string[] = []
  const lines = log()
  const worker = new EndpointWorker({
    name: 'ledger',
    subscription: () => ({ name: 'ledger', url: 'https://ledger.example', events: events as any, secret: 'whsec_' }),
    queue: flaky,
    send: async (_subscription, delivery) => { sent.push(delivery.id); return { ok: true, status: 204 } },
    maxAgeMs: 3_600_000,
    maxBackoffMs: 1000,
    idleMs: 10,
    now: () => 0,
    snapshot: () => undefined,
    log: lines,
    onResult: () => {},
    onStats: () => {}
  })
  queue.enqueue(['ledger'], { id: '1-0', class: 'billing', data: {}, detectedAt: 0 }, noSnapshot)
  queue.enqueue(['ledger'], { id: '2-0', class: 'balance', data: {}, detectedAt: 0 }, noSnapshot)
  events = ['balance']
  worker.start()
  await until('the balance change delivered', () => sent.length === 1)
  await worker.stop()
  t.same(sent, ['2-0'], 'the billing change was dropped: the endpoint unsubscribed from billing since it was queued')
  t.same(lines.lines.filter((l: { msg: string }) => l.msg.startsWith('webhook queue unusable')).length, 1, 'logged once for two failures in a row')
})

t.test('send: a timeout is a failure named by the error, the body is never read into the result', async (t) => {
  const server = createServer(() => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections() })
  const dispatcher = new Agent()
  t.teardown(async () => { await dispatcher.destroy() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const attempt = await send({ name: 'slow', url, events: ['balance'], secret: webhookSecret() }, { id: '1-0', class: 'balance', data: {}, detectedAt: 0 }, { dispatcher, timeoutMs: 100, userAgent: 'test', maxRetryAfterSeconds: 60 })
  t.same(attempt, { ok: false, reason: 'TimeoutError' })
  server.close()
  await new Promise((resolve) => server.once('close', resolve))
  const refused = await send({ name: 'gone', url, events: ['balance'], secret: webhookSecret() }, { id: '1-0', class: 'balance', data: {}, detectedAt: 0 }, { dispatcher, timeoutMs: 1000, userAgent: 'test', maxRetryAfterSeconds: 60 })
  t.same(refused, { ok: false, reason: 'ECONNREFUSED' }, 'a connection error is named by its code')
})

t.test('send: Retry-After is read on a 429 or 503 only, in seconds or as an HTTP-date, at most the cap', async (t) => {
  let answer: { status: number, headers: Record<string, string> } = { status: 503, headers: {} }
  const server = createServer((req, res) => { req.resume().on('end', () => { res.writeHead(answer.status, answer.headers).end() }) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const dispatcher = new Agent()
  t.teardown(async () => { await dispatcher.destroy() })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const attempt = async (status: number, headers: Record<string, string>) => {
    answer = { status, headers }
    return await send({ name: 'x', url, events: ['balance'], secret: webhookSecret() }, { id: '1-0', class: 'balance', data: {}, detectedAt: 0 }, { dispatcher, timeoutMs: 5000, userAgent: 'test', maxRetryAfterSeconds: 60 })
  }
  t.same(await attempt(503, { 'retry-after': '20' }), { ok: false, reason: 'HTTP 503', status: 503, retryAfterMs: 20_000 })
  t.same(await attempt(429, { 'retry-after': '3600' }), { ok: false, reason: 'HTTP 429', status: 429, retryAfterMs: 60_000 }, 'at most the cap')
  t.same(await attempt(429, { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' }), { ok: false, reason: 'HTTP 429', status: 429, retryAfterMs: 1000 }, 'an HTTP-date in the past: at once (the backoff still applies)')
  t.same(await attempt(429, {}), { ok: false, reason: 'HTTP 429', status: 429 }, 'none sent: the backoff alone')
  t.same(await attempt(500, { 'retry-after': '20' }), { ok: false, reason: 'HTTP 500', status: 500 }, 'only on 429 and 503')
})

const snapshotOf = (balance: number) => ({ data: { balance: { partner_id: 'p', balance, as_of: '2026-01-01T00:00:00.000Z' } }, detectedAt: balance })

t.test('the memory queue: at most one snapshot, after whatever was dropped; a disabled endpoint is queued nothing', async (t) => {
  const drops: string[] = []
  const queue = new MemoryWebhookQueue({ max: 2, drops: { dropped: (endpoint, count) => { drops.push(`${endpoint}:${count}`) }, room: (endpoint) => { drops.push(`${endpoint}:room`) } } })
  const change = (n: number) => ({ id: `${n}-0`, class: 'balance' as const, data: { n }, detectedAt: n })
  const ids = async () => { const out: string[] = []; for (let d = await queue.head('a'); d !== undefined; d = await queue.head('a')) { out.push(d.class === 'snapshot' ? `snap:${(d.data as any).balance.balance as number}` : d.id); await queue.remove('a', d.id) } return out }
  await queue.resync('a', snapshotOf(0))
  await queue.resync('a', snapshotOf(1))
  t.equal((await queue.stats('a')).depth, 1, 'one snapshot queued, not two')
  // [snap0] + 1, 2: full at 2 changes (the snapshot not counted); 3 drops the snapshot (not counted) and 1, then a new snapshot follows.
  for (const n of [1, 2, 3]) queue.enqueue(['a'], change(n), () => snapshotOf(n))
  t.same(drops, ['a:room', 'a:room', 'a:1'])
  t.same(await ids(), ['2-0', '3-0', 'snap:3'])
  t.equal((await queue.stats('a')).depth, 0)
  await queue.resync('a', snapshotOf(4))
  t.equal((await queue.stats('a')).depth, 1, 'a delivered snapshot no longer counts as queued')
  await queue.clear('a')
  t.same(await queue.stats('a'), { depth: 0, oldestAt: undefined })
  await queue.setState('a', { failures: 0, nextAttemptAt: 0, disabled: { at: 1, entry: 'x' } })
  queue.enqueue(['a'], change(5), () => snapshotOf(5))
  t.equal((await queue.stats('a')).depth, 0, 'a disabled endpoint is queued nothing')
})

t.test('the worker: a disabled endpoint waits for the state before it is enabled; an expired change without one is only given up', async (t) => {
  const queue = new MemoryWebhookQueue({ max: 10, drops: { dropped: () => {}, room: () => {} } })
  const current: { state?: ReturnType<typeof snapshotOf> } = {}
  let subscription: any = { name: 'ledger', url: 'https://ledger.example', events: ['balance'], secret: 'whsec_' }
  const sent: string[] = []
  const stats: boolean[] = []
  const worker = new EndpointWorker({
    name: 'ledger',
    subscription: () => subscription,
    queue,
    send: async (_subscription, delivery) => { sent.push(delivery.class); return { ok: true, status: 204 } },
    maxAgeMs: 1000,
    maxBackoffMs: 1000,
    idleMs: 5,
    now: () => 5000,
    snapshot: () => current.state,
    log: log(),
    onResult: () => {},
    onStats: (_endpoint, s) => { if (s !== undefined) stats.push(s.disabled) }
  })
  queue.enqueue(['ledger'], { id: '1-0', class: 'balance', data: {}, detectedAt: 0 }, () => snapshotOf(0))
  await queue.setState('ledger', { failures: 0, nextAttemptAt: 0, disabled: { at: 0, entry: 'SIGHUP' } })
  subscription = undefined
  worker.start()
  await until('a look while disabled', () => stats.includes(true))
  subscription = { name: 'ledger', url: 'https://ledger.example', events: ['balance'], secret: 'whsec_' }
  const looks = stats.length
  await until('more looks', () => stats.length > looks + 2)
  t.ok((await queue.state('ledger')).disabled, 'still disabled: no state to send yet')
  await queue.setState('ledger', { failures: 0, nextAttemptAt: 0 })
  queue.enqueue(['ledger'], { id: '2-0', class: 'balance', data: {}, detectedAt: 0 }, () => snapshotOf(0))
  await until('the old change given up', async () => (await queue.stats('ledger')).depth === 0)
  t.same(sent, [], 'given up, and no snapshot could be queued')
  current.state = snapshotOf(4000)
  await queue.resync('ledger', current.state)
  await until('the snapshot sent', () => sent.length === 1)
  await worker.stop()
  t.same(sent, ['snapshot'], 'a snapshot goes whatever the events')
})

t.test('a snapshot: nothing before the first fetch; the state as of it, timed when queued', async (t) => {
  t.equal(resyncOf(undefined, 5), undefined)
  const fetchedAt = Date.parse('2026-12-01T00:00:00.000Z')
  t.match(resyncOf({ profile: PROFILE_EXAMPLE, fetchedAt }, fetchedAt + 60_000), {
    data: { balance: { balance: PROFILE_EXAMPLE.balance, as_of: '2026-12-01T00:00:00.000Z' }, profile: { id: PROFILE_EXAMPLE.id, as_of: '2026-12-01T00:00:00.000Z' } },
    detectedAt: fetchedAt + 60_000
  })
})
