import t from 'tap'
import { MemoryWebhookQueue } from '../../src/webhooks/queue.ts'
import { SubscriptionRegistry } from '../../src/webhooks/registry.ts'
import { backoffMs } from '../../src/webhooks/worker.ts'

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
