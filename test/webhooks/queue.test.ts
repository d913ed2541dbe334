import t from 'tap'
import { RedisLink } from '../../src/redis/link.ts'
import { RedisWebhookQueue, webhookKey } from '../../src/redis/webhook-queue.ts'
import { MemoryWebhookQueue } from '../../src/webhooks/queue.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { webhookQueueContract } from './queue-contract.ts'

const noDrops = { dropped: () => {}, room: () => {} }

t.test('MemoryWebhookQueue (one replica) keeps the WebhookQueue contract', async (t) => {
  webhookQueueContract(t, async () => {
    const queue = new MemoryWebhookQueue({ max: 100, drops: noDrops })
    return { queue, enqueue: async (endpoint, delivery) => { queue.enqueue([endpoint], delivery, () => { throw new Error('never full') }) } }
  })
})

t.test('RedisWebhookQueue (the fleet) keeps the WebhookQueue contract', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis(t)
  const silent = { debug () {}, info () {}, warn () {}, error () {} }
  const link = new RedisLink({ url: redis.url, timeoutMs: 5000, logger: silent })
  await link.connect(5000)
  t.teardown(async () => { await link.close() })
  webhookQueueContract(t, async () => {
    const prefix = uniquePrefix()
    const queue = new RedisWebhookQueue({ link, prefix, token: 'a', leaseMs: 5000 })
    // As the publishing script queues a change: at the stream's tail, its feed id in the entry.
    const enqueue = async (endpoint: string, delivery: { id: string }): Promise<void> => { await redis.client.xadd(webhookKey(prefix, endpoint), '*', 'd', JSON.stringify(delivery)) }
    return { queue, enqueue }
  })
})
