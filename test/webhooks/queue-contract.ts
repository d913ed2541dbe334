import type { Test } from 'tap'
import { HEALTHY, type Delivery, type WebhookQueue } from '../../src/webhooks/queue.ts'

export interface QueueUnderTest {
  queue: WebhookQueue
  /** Queues a change for `endpoint` the way the implementation's publisher does. */
  enqueue: (endpoint: string, delivery: Delivery) => Promise<void>
}

const change = (n: number): Delivery => ({ id: `${n}-0`, class: 'balance', data: { balance: n }, detectedAt: n })
const snapshot = (n: number) => ({ data: { balance: { partner_id: 'p', balance: n, as_of: '2026-01-01T00:00:00.000Z' } }, detectedAt: n })

/**
 * The WebhookQueue contract (src/webhooks/queue.ts), run against every implementation: `make` builds an
 * empty queue (and whatever it needs) for one subtest.
 */
export function webhookQueueContract (t: Test, make: (t: Test) => Promise<QueueUnderTest>): void {
  t.test('an empty queue: nothing to send, healthy, led by its only user', async (t) => {
    const { queue } = await make(t)
    t.equal(await queue.head('a'), undefined)
    t.same(await queue.stats('a'), { depth: 0, oldestAt: undefined })
    t.same(await queue.state('a'), HEALTHY)
    t.ok(await queue.lead('a'))
    await queue.resign('a')
  })

  t.test('oldest first; only the head is removed, and only by its id', async (t) => {
    const { queue, enqueue } = await make(t)
    await enqueue('a', change(1))
    await enqueue('a', change(2))
    await enqueue('b', change(3))
    t.same(await queue.head('a'), change(1))
    t.same(await queue.stats('a'), { depth: 2, oldestAt: 1 })
    await queue.remove('a', '2-0')
    t.equal((await queue.stats('a')).depth, 2, 'not the head: kept')
    await queue.remove('a', '1-0')
    t.same(await queue.head('a'), change(2))
    t.equal((await queue.stats('b')).depth, 1, 'each endpoint its own queue')
  })

  t.test('a snapshot goes at the tail, one at most, with the same id until it is removed', async (t) => {
    const { queue, enqueue } = await make(t)
    await enqueue('a', change(1))
    await queue.resync('a', snapshot(10))
    await queue.resync('a', snapshot(11))
    t.equal((await queue.stats('a')).depth, 2, 'one snapshot, not two')
    await queue.remove('a', '1-0')
    const first = await queue.head('a')
    t.match(first, { class: 'snapshot', data: { balance: { balance: 10 } }, detectedAt: 10 })
    t.equal((await queue.head('a'))?.id, first?.id, 'a stable id: its webhook-id on every retry')
    await enqueue('a', change(2))
    await queue.remove('a', first?.id ?? '')
    t.same(await queue.head('a'), change(2), 'changes after it follow it')
    await queue.resync('a', snapshot(12))
    t.equal((await queue.stats('a')).depth, 2, 'once removed, another can be queued')
    await queue.clear('a')
    t.same(await queue.stats('a'), { depth: 0, oldestAt: undefined }, 'cleared')
    await queue.resync('a', snapshot(13))
    t.match(await queue.head('a'), { class: 'snapshot', detectedAt: 13 }, 'a cleared queue takes a new snapshot')
  })

  t.test('the state: backoff and disabled, kept until set back to healthy', async (t) => {
    const { queue } = await make(t)
    const disabled = { failures: 0, nextAttemptAt: 0, disabled: { at: 5, entry: 'digest' } }
    await queue.setState('a', { failures: 2, nextAttemptAt: 42 })
    t.same(await queue.state('a'), { failures: 2, nextAttemptAt: 42 })
    await queue.setState('a', disabled)
    t.same(await queue.state('a'), disabled)
    await queue.setState('a', HEALTHY)
    t.same(await queue.state('a'), HEALTHY)
  })
}
