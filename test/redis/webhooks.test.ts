import { join } from 'node:path'
import t from 'tap'
import { webhookViolations } from '../helpers/contract.ts'
import { directory } from '../helpers/files.ts'
import { startHarness, type Harness } from '../helpers/harness.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { until } from '../helpers/time.ts'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts'

// Webhooks with their queues and state in a real redis-server: what a restart keeps, and when a receiver
// must be sent a snapshot.
const skip = redisUnavailable()

const snapshotsOf = (receiver: WebhookReceiver) => receiver.delivered().filter((d) => d.payload.type === 'profile.snapshot')
const changesOf = (receiver: WebhookReceiver) => receiver.delivered().filter((d) => d.payload.type !== 'profile.snapshot')
const metricsOf = async (h: Harness): Promise<string> => await h.app.metrics.registry.metrics()

/** Changes the sandbox's profile and moves the clock a balance period on: keep-fresh fetches, and the change is published. */
async function change (h: Harness, fields: Record<string, unknown>): Promise<void> {
  h.sandbox.update(fields)
  const fetched = h.sandbox.requests
  h.clock.advance(1500)
  await h.sandbox.received(fetched + 1)
}

t.test('with Redis: a 410 keeps the endpoint disabled across a restart; the baseline in Redis means no snapshot; an emptied Redis means one', { skip }, async (t) => {
  const redis = await startRedis(t)
  const gone = await startWebhookReceiver(t)
  const other = await startWebhookReceiver(t)
  const dir = directory(t, {
    'webhooks.json': JSON.stringify([gone, other].map((receiver, i) => ({ name: ['gone', 'other'][i], url: receiver.url, events: ['balance'], secret: receiver.secret })))
  })
  // A short delivery timeout: the lease (and a takeover) follows it.
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), BALANCE_TTL_SECONDS: '1', WEBHOOKS_FILE: join(dir, 'webhooks.json'), WEBHOOKS_TIMEOUT_MS: '1000' }
  const first = await startHarness(t, { env })
  first.sandbox.update({ balance: 40000 })
  await first.get('/profile', { 'x-api-key': first.keys.profile })
  await until('the first start\'s snapshots', () => snapshotsOf(gone).length === 1 && snapshotsOf(other).length === 1)
  t.same(webhookViolations(snapshotsOf(other)[0]?.payload ?? {}), [])
  t.match(first.logs.find((l) => String(l.msg).startsWith('no baseline in Redis')), { endpoints: ['gone', 'other'] })
  gone.answer({ status: 410 })
  await change(first, { balance: 39000 })
  await until('the endpoint disabled', async () => /vobiz_bff_webhook_endpoints_disabled\{endpoint="gone"\} 1/.test(await metricsOf(first)))
  t.match(JSON.parse(await redis.client.get(`${env.REDIS_KEY_PREFIX}webhooks:gone:state`) ?? '{}'), { disabled: { entry: /^[\w-]{22}$/ } }, 'kept in Redis, with a digest of its entry (never the secret)')

  // A restart: the next replica finds the endpoint disabled, and the baseline where it was.
  await first.app.close()
  const second = await startHarness(t, { env, replicaOf: first })
  await change(second, { balance: 9000 })
  await until('the other endpoint to get the change', () => changesOf(other).length === 2)
  t.match(changesOf(other).map((d) => d.payload.data.balance), [39000, 9000])
  await until('the new replica to report it', async () => /vobiz_bff_webhook_endpoints_disabled\{endpoint="gone"\} 1/.test(await metricsOf(second)))
  t.equal(gone.requests.length, 2, 'the disabled endpoint got nothing more: neither retries nor later changes')
  t.equal(snapshotsOf(other).length, 1, 'no snapshot on a restart: the baseline in Redis compared the fetch, nothing was missed')
  t.notOk(second.logs.some((l) => String(l.msg).startsWith('webhook endpoint answered 410')), 'logged once, by the replica that saw it')

  // Redis emptied (its data lost): nobody can tell what changed, so every endpoint gets a snapshot.
  await redis.client.flushall()
  gone.answer({ status: 204 })
  await change(second, { balance: 8000 })
  await until('a snapshot to each endpoint', () => snapshotsOf(other).length === 2 && snapshotsOf(gone).length === 2)
  t.match(snapshotsOf(other)[1]?.payload.data, { balance: { balance: 8000 } })

  // SIGHUP while Redis does not answer: nothing can be enabled, and the log says so.
  await redis.kill()
  await until('the link down', () => second.app.fleet?.link.usable === false)
  process.emit('SIGHUP', 'SIGHUP')
  await until('the SIGHUP refused', () => second.logs.some((l) => String(l.msg).startsWith('SIGHUP: disabled webhook endpoints not enabled')))
})
