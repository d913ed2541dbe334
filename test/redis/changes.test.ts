import { join } from 'node:path'
import t, { type Test } from 'tap'
import { generateApiKey } from '../../src/consumers.ts'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { directory } from '../helpers/files.ts'
import { startHarness, type Harness, type HarnessOptions } from '../helpers/harness.ts'
import { run, serverEnv } from '../helpers/processes.ts'
import { redisUnavailable, startRedis, uniquePrefix, type RedisServer } from '../helpers/redis.ts'
import { openEventStream } from '../helpers/sse.ts'
import { until } from '../helpers/time.ts'
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts'

// Change notifications across replicas sharing a real redis-server: one stream of changes, one poller, one
// deliverer per endpoint.
const skip = redisUnavailable()
/** More than the 1 s balance period: the shared entry then counts as old on every replica. */
const PERIOD = 1500

const webhooksFile = (t: Test, receiver: WebhookReceiver, events = ['billing', 'balance']): string => {
  const dir = directory(t, { 'webhooks.json': JSON.stringify([{ name: 'ledger', url: receiver.url, events, secret: receiver.secret }]) })
  return join(dir, 'webhooks.json')
}

async function fleet (t: Test, redis: RedisServer, count: number, options: HarnessOptions = {}): Promise<Harness[] & { prefix: string }> {
  const prefix = uniquePrefix()
  const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, BALANCE_TTL_SECONDS: '1', EVENTS_MAX_STREAMS_PER_CALLER: '100', ...options.env }
  const first = await startHarness(t, { ...options, env })
  const replicas = [first]
  for (let i = 1; i < count; i++) replicas.push(await startHarness(t, { ...options, env, replicaOf: first }))
  return Object.assign(replicas, { prefix })
}

t.test('two replicas, 100 SSE clients across them: one Vobiz fetch per period, each change once, one delivery per change', { skip }, async (t) => {
  const redis = await startRedis(t)
  const receiver = await startWebhookReceiver(t)
  const replicas = await fleet(t, redis, 2, { env: { WEBHOOKS_FILE: webhooksFile(t, receiver) } })
  const [a, b] = [replicas[0] as Harness, replicas[1] as Harness]
  a.sandbox.update({ balance: 40000 })
  const streams = await Promise.all(Array.from({ length: 100 }, async (_, i) => {
    const replica = replicas[i % 2] as Harness
    return await openEventStream(t, `${replica.url}/profile/events`, { 'x-api-key': replica.keys.profile })
  }))
  await Promise.all(streams.map(async (stream) => await stream.next(1)))
  t.same([...new Set(streams.map((s) => s.events[0]?.event))], ['snapshot'])
  const start = a.sandbox.requests
  t.equal(start, 1, 'the first streams\' cold start: one fetch for the fleet')

  const changes = [{ gst_status: 'inactive' }, { balance: 39000 }, { status: 'suspended', balance: 38000 }]
  for (const [i, fields] of changes.entries()) {
    a.sandbox.update(fields)
    a.clock.advance(PERIOD)
    await a.sandbox.received(start + i + 1)
    // Every stream hears this period's changes before the clock moves on.
    const expected = 1 + changes.slice(0, i + 1).reduce((n, f) => n + Object.keys(f).length, 0)
    await until(`every stream to hear change ${i + 1}`, () => streams.every((s) => s.events.length >= expected))
  }
  t.equal(a.sandbox.requests, start + changes.length, 'one Vobiz fetch per period, whichever replica polled, 100 clients listening')
  const ids = streams.map((s) => s.events.slice(1).map((e) => `${e.event}:${e.id}`).join(' '))
  t.equal(new Set(ids).size, 1, 'every client on either replica heard the same changes with the same ids')
  t.same(streams[0]?.events.slice(1).map((e) => e.event), ['billing', 'balance', 'billing', 'balance'])

  // A first start (no baseline in Redis): a snapshot first, then the changes.
  await until('every change delivered', () => receiver.delivered().length === 5)
  const [snapshot, ...delivered] = receiver.delivered()
  t.equal(snapshot?.payload.type, 'profile.snapshot')
  t.same(delivered.map((d) => d.id), streams[0]?.events.slice(1).map((e) => `chg_${e.id ?? ''}`), 'in order, with the stream\'s ids')
  t.equal(receiver.requests.length, 5, 'one delivery per change for the whole fleet')
  const counted = await Promise.all(replicas.map(async (r) => (await r.app.metrics.registry.getSingleMetricAsString('vobiz_bff_change_events_total'))))
  const total = counted.join('\n').match(/^vobiz_bff_change_events_total\{[^}]*\} \d+$/gm)?.reduce((n, line) => n + Number(line.split(' ')[1]), 0)
  t.equal(total, 4, 'each change detected (published) once across the fleet')

  // A client that heard a change on one replica resumes on the other.
  const resumed = await openEventStream(t, `${b.url}/profile/events`, { 'x-api-key': b.keys.profile, 'last-event-id': streams[0]?.events[2]?.id ?? '' })
  t.same((await resumed.next(2)).map((e) => e.event), ['billing', 'balance'], 'Last-Event-ID resumes across replicas')
})

t.test('the poller: one replica with listeners polls, and another takes over when its listeners leave', { skip }, async (t) => {
  const redis = await startRedis(t)
  const replicas = await fleet(t, redis, 2)
  const [a, b] = [replicas[0] as Harness, replicas[1] as Harness]
  const poller = async (): Promise<string | null> => await redis.client.get(`${replicas.prefix}changes:poller`)
  // A balance that stays put: the only change in this test is the one it makes.
  a.sandbox.update({ balance: 40000 })
  const onA = await openEventStream(t, `${a.url}/profile/events`, { 'x-api-key': a.keys.profile })
  await onA.next(1)
  a.clock.advance(PERIOD)
  await until('replica A to poll', async () => await poller() === a.app.fleet?.token)
  // Its fetch done (the cold start's was the first), so that the count below starts after it.
  await a.sandbox.received(2)
  onA.close()
  await until('replica A to hand over', async () => await poller() === null)
  const onB = await openEventStream(t, `${b.url}/profile/events`, { 'x-api-key': b.keys.profile })
  await onB.next(1)
  const before = a.sandbox.requests
  b.sandbox.update({ gst_status: 'inactive' })
  b.clock.advance(PERIOD)
  await until('replica B to poll', async () => await poller() === b.app.fleet?.token)
  await onB.next(2)
  t.equal(onB.events[1]?.event, 'billing')
  t.equal(a.sandbox.requests, before + 1)
})

t.test('a replica killed mid-delivery loses nothing: the other takes the endpoint over and delivers it again, same webhook-id', { skip }, async (t) => {
  const redis = await startRedis(t)
  const receiver = await startWebhookReceiver(t)
  const sandbox = await startSandbox({})
  t.teardown(async () => { await sandbox.close() })
  sandbox.update({ balance: 40000 })
  const key = generateApiKey()
  const env = {
    ...serverEnv(sandbox, key),
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: uniquePrefix(),
    BALANCE_TTL_SECONDS: '1',
    WEBHOOKS_FILE: webhooksFile(t, receiver),
    WEBHOOKS_TIMEOUT_MS: '60000'
  }
  const servers = [run(t, 'server.js', [], env), run(t, 'server.js', [], env)]
  await Promise.all(servers.map(async (server) => await server.waitFor(/"url":"http/)))
  // The deliverer hangs on the first delivery (the first start's snapshot); the replica holding the endpoint is then killed.
  receiver.answer('hang')
  // The fleet's first fetch is the baseline the change is detected against.
  await until('the first fetch', async () => await redis.client.exists(`${env.REDIS_KEY_PREFIX}changes:baseline`) === 1)
  sandbox.update({ gst_status: 'inactive' })
  await receiver.arrived(1)
  const holder = await redis.client.get(`${env.REDIS_KEY_PREFIX}webhooks:ledger:lease`)
  const pid = Number(holder?.split(':')[1])
  const victim = servers.find((server) => server.child.pid === pid)
  t.ok(victim, 'the lease names the delivering replica\'s process')
  receiver.answer({ status: 204 })
  victim?.child.kill('SIGKILL')
  await victim?.exited
  await until('the other replica to deliver it', () => receiver.delivered().length >= 1, 120_000)
  const [first] = receiver.requests
  const [delivered] = receiver.delivered()
  t.equal(delivered?.id, first?.headers['webhook-id'], 'the same message, the same webhook-id: the receiver can drop a repeat')
  t.match(delivered?.payload, { type: 'profile.snapshot' })
  await until('the change after it', () => receiver.delivered().length >= 2, 120_000)
  t.match(receiver.delivered()[1]?.payload, { type: 'profile.billing', data: { gst_status: 'inactive' } })
  const survivor = servers.find((server) => server !== victim)
  t.notMatch(survivor?.stdout() ?? '', new RegExp(receiver.secret.slice(6, 26).replace(/[+/]/g, '.')), 'the secret is never logged')
})
