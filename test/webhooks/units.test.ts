import t from 'tap'
import { MemoryWebhookQueue, type WebhookQueue } from '../../src/webhooks/queue.ts'
import { SubscriptionRegistry } from '../../src/webhooks/registry.ts'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Agent } from 'undici'
import { send } from '../../src/webhooks/send.ts'
import { backoffMs, EndpointWorker } from '../../src/webhooks/worker.ts'
import { until } from '../helpers/time.ts'
import { webhookSecret } from '../helpers/webhook-receiver.ts'

t.test('backoff: 1 s doubling to the cap, within ±25%', async (t) => {
  for (const [failures, base] of [[1, 1000], [2, 2000], [5, 16000], [40, 3_600_000]] as const) {
    const wait = backoffMs(failures, 3_600_000)
    t.ok(wait >= base * 0.75 && wait <= base * 1.25, `after ${failures} failures: ${wait} ms`)
  }
})

t.test('the memory queue removes only the change it was told', async (t) => {
  const queue = new MemoryWebhookQueue({ max: 10, onDropped: () => {} })
  queue.enqueue(['a'], { id: '1-0', class: 'balance', data: {}, detectedAt: 1 })
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
  const queue = new MemoryWebhookQueue({ max: 10, onDropped: () => {} })
  let failures = 2
  // The memory queue, whose store fails twice (as Redis can).
  const flaky: WebhookQueue = {
    lead: async () => await queue.lead(),
    resign: async (endpoint) => { await queue.resign(endpoint) },
    head: async (endpoint) => await queue.head(endpoint),
    remove: async (endpoint, id) => { await queue.remove(endpoint, id) },
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
    log: lines,
    onResult: () => {},
    onStats: () => {}
  })
  queue.enqueue(['ledger'], { id: '1-0', class: 'billing', data: {}, detectedAt: 0 })
  queue.enqueue(['ledger'], { id: '2-0', class: 'balance', data: {}, detectedAt: 0 })
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
  const attempt = await send({ name: 'slow', url, events: ['balance'], secret: webhookSecret() }, { id: '1-0', class: 'balance', data: {}, detectedAt: 0 }, { dispatcher, timeoutMs: 100, userAgent: 'test' })
  t.same(attempt, { ok: false, reason: 'TimeoutError' })
  server.close()
  await new Promise((resolve) => server.once('close', resolve))
  const refused = await send({ name: 'gone', url, events: ['balance'], secret: webhookSecret() }, { id: '1-0', class: 'balance', data: {}, detectedAt: 0 }, { dispatcher, timeoutMs: 1000, userAgent: 'test' })
  t.same(refused, { ok: false, reason: 'ECONNREFUSED' }, 'a connection error is named by its code')
})
