import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { Metrics } from '../../src/observability/metrics.ts'
import { fleetSource, upstreamSource } from '../../src/profile-source.ts'
import { connectFleet } from '../../src/redis/fleet.ts'
import { redisUnavailable, startRedis, uniquePrefix } from '../helpers/redis.ts'
import { FakeVobiz, sourceContract } from './source-contract.ts'

const silent = { debug () {}, info () {}, warn () {}, error () {} }

t.test('upstreamSource (one replica) keeps the ProfileSource contract', async (t) => {
  sourceContract(t, async () => {
    let clock = 1_000_000
    const vobiz = new FakeVobiz()
    return { source: upstreamSource(vobiz.fetch, () => clock), vobiz, now: () => clock, advance: (ms) => { clock += ms } }
  })
})

t.test('fleetSource (replicas sharing Redis) keeps the ProfileSource contract', { skip: redisUnavailable() }, async (t) => {
  const redis = await startRedis(t)
  sourceContract(t, async (t) => {
    // Real time: the shared entry's and the lock's expiries are Redis's.
    let offset = 0
    const now = (): number => Date.now() + offset
    const config = loadConfig({ VOBIZ_SANDBOX: 'true', REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix(), UPSTREAM_TIMEOUT_MS: '2000' })
    const fleet = await connectFleet({ config: { ...config, REDIS_URL: redis.url }, logger: { child: () => silent }, metrics: new Metrics({ fleet: true }), now })
    t.teardown(async () => { await fleet.link.close() })
    const vobiz = new FakeVobiz()
    return { source: fleetSource(fleet.sharedProfiles(vobiz.fetch, 60_000)), vobiz, now, advance: (ms) => { offset += ms } }
  })
})
