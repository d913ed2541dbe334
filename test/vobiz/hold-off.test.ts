import t from 'tap'
import { UpstreamError } from '../../src/vobiz/errors.ts'
import { HoldOff, MemoryHoldOffStore, type BreakerState, type HoldOffStore } from '../../src/vobiz/hold-off.ts'

function holdOff (options: { threshold?: number, openMs?: number, store?: HoldOffStore } = {}) {
  let clock = 1_000_000
  const changes: BreakerState[] = []
  const guard = new HoldOff({
    store: options.store ?? new MemoryHoldOffStore(),
    threshold: options.threshold ?? 2,
    openMs: options.openMs ?? 10_000,
    now: () => clock,
    onBreakerChange: (state) => { changes.push(state) }
  })
  return { guard, changes, advance: (ms: number) => { clock += ms } }
}

const failure = new UpstreamError('upstream_unavailable', 'vobiz answered 503', { upstreamStatus: 503 })
const rateLimited = (seconds?: number) => new UpstreamError('upstream_rate_limited', 'vobiz answered 429', { upstreamStatus: 429, ...(seconds === undefined ? {} : { retryAfterSeconds: seconds }) })

async function shortCircuit (guard: HoldOff): Promise<UpstreamError | undefined> {
  try {
    await guard.admit()
    return undefined
  } catch (err) {
    return err as UpstreamError
  }
}

t.test('the breaker opens at the threshold of consecutive failures, and a success in between starts the count again', async (t) => {
  const { guard, changes } = holdOff({ threshold: 3 })
  for (const outcome of ['fail', 'fail', 'ok', 'fail', 'fail'] as const) {
    await guard.admit()
    if (outcome === 'ok') await guard.succeeded()
    else await guard.failed(failure)
  }
  t.equal(guard.status().breaker, 'closed', 'four failures, but never three in a row')
  await guard.admit()
  await guard.failed(failure)
  t.equal(guard.status().breaker, 'open')
  t.same(changes, ['open'])
  const refused = await shortCircuit(guard)
  t.match(refused, { code: 'upstream_unavailable', shortCircuit: 'breaker-open', retryAfterSeconds: 10 })
})

t.test('open for the open period, then one probe: success closes, failure re-opens at once', async (t) => {
  const { guard, changes, advance } = holdOff({ threshold: 2, openMs: 10_000 })
  for (let i = 0; i < 2; i++) {
    await guard.admit()
    await guard.failed(failure)
  }
  advance(4_000)
  t.match(await shortCircuit(guard), { shortCircuit: 'breaker-open', retryAfterSeconds: 6 }, 'Retry-After is what is left of the open period')
  advance(6_000)
  await guard.admit()
  t.equal(guard.status().breaker, 'half-open')
  t.match(await shortCircuit(guard), { shortCircuit: 'breaker-open' }, 'one probe at a time')
  await guard.failed(failure)
  t.equal(guard.status().breaker, 'open', 'a failed probe re-opens it')
  advance(10_000)
  await guard.admit()
  await guard.succeeded()
  t.equal(guard.status().breaker, 'closed')
  t.same(changes, ['open', 'half-open', 'open', 'half-open', 'closed'])
})

t.test('a 429 starts the cool-down without counting towards the breaker; without Retry-After it is 1 s', async (t) => {
  const { guard, advance } = holdOff({ threshold: 1 })
  await guard.admit()
  await guard.failed(rateLimited(30))
  t.equal(guard.status().breaker, 'closed', 'a 429 is not Vobiz failing')
  t.equal(guard.status().coolingDownUntil, 1_030_000)
  advance(12_000)
  t.match(await shortCircuit(guard), { code: 'upstream_rate_limited', shortCircuit: 'cooling-down', retryAfterSeconds: 18 })
  advance(18_000)
  t.equal(guard.status().coolingDownUntil, undefined, 'over once it has run out')
  await guard.admit()
  await guard.failed(rateLimited())
  advance(999)
  t.ok(await shortCircuit(guard))
  advance(1)
  t.equal(await shortCircuit(guard), undefined)
})

t.test('the state is the store\'s: two guards on one store act as one (a fleet)', async (t) => {
  const store = new MemoryHoldOffStore()
  let clock = 0
  const make = () => new HoldOff({ store, threshold: 2, openMs: 5_000, now: () => clock, onBreakerChange: () => {} })
  const [a, b, c] = [make(), make(), make()]
  await a.admit()
  await a.failed(failure)
  await b.admit()
  await b.failed(failure)
  t.match(await shortCircuit(c), { shortCircuit: 'breaker-open', retryAfterSeconds: 5 }, 'failures at different replicas add up')
  clock += 5_000
  await c.admit()
  await c.succeeded()
  t.equal(await shortCircuit(a), undefined, 'and one success closes it for all')
  await a.failed(rateLimited(2))
  t.match(await shortCircuit(b), { shortCircuit: 'cooling-down' }, 'one 429 holds off all')
})

t.test('behind a probe in flight, Retry-After is a whole open period, from the moment the period ends', async (t) => {
  const { guard, advance } = holdOff({ threshold: 1, openMs: 10_000 })
  await guard.admit()
  await guard.failed(failure)
  advance(10_000)
  await guard.admit()
  t.match(await shortCircuit(guard), { code: 'upstream_unavailable', message: 'the circuit breaker is open', shortCircuit: 'breaker-open', retryAfterSeconds: 10 }, 'exactly at the end of the period')
  advance(3_000)
  t.match(await shortCircuit(guard), { retryAfterSeconds: 10 }, 'and later: should the probe fail, a whole period follows')
})

t.test('the cool-down\'s short circuit says what it is', async (t) => {
  const { guard } = holdOff()
  await guard.admit()
  await guard.failed(rateLimited(3))
  t.match(await shortCircuit(guard), { code: 'upstream_rate_limited', message: 'holding off after a Vobiz 429', retryAfterSeconds: 3 })
})

t.test('only failures that say something about Vobiz count: a short circuit handed back does not', async (t) => {
  const { guard } = holdOff({ threshold: 2 })
  for (const shortCircuitKind of ['breaker-open', 'cooling-down'] as const) {
    await guard.failed(new UpstreamError('upstream_unavailable', 'refused here', { shortCircuit: shortCircuitKind }))
  }
  t.equal(guard.status().breaker, 'closed')
  t.equal(await shortCircuit(guard), undefined)
})

t.test('a success writes to the store only when there is something to clear', async (t) => {
  const writes: unknown[] = []
  const memory = new MemoryHoldOffStore()
  const store: HoldOffStore = { read: () => memory.read(), write: (state) => { writes.push(state); memory.write(state) } }
  const { guard } = holdOff({ threshold: 2, store })
  await guard.admit()
  await guard.succeeded()
  t.same(writes, [], 'closed and nothing counted: no write (with Redis, no round trip)')
  await guard.admit()
  await guard.failed(failure)
  await guard.admit()
  await guard.succeeded()
  t.same(writes, [{ failures: 1, openUntil: 0, coolingDownUntil: 0 }, { failures: 0, openUntil: 0, coolingDownUntil: 0 }], 'a counted failure is cleared')
})

t.test('each replica probes once per half-open period, whatever its earlier requests did', async (t) => {
  const store = new MemoryHoldOffStore()
  let clock = 0
  const make = () => new HoldOff({ store, threshold: 2, openMs: 5_000, now: () => clock, onBreakerChange: () => {} })
  const [a, b] = [make(), make()]
  // A request of `a` admitted while closed, still in flight, when `b`'s failures open the breaker.
  await a.admit()
  await b.admit()
  await b.failed(failure)
  await b.admit()
  await b.failed(failure)
  clock += 5_000
  t.equal(await shortCircuit(a), undefined, 'a request admitted while closed is no probe: `a` may probe now')
  t.match(await shortCircuit(a), { shortCircuit: 'breaker-open' }, 'one probe at a time')
  // `b` probes too, and succeeds: the breaker is closed for `a` while its own probe is still out.
  await b.admit()
  await b.succeeded()
  t.equal(await shortCircuit(a), undefined, 'closed by another replica: no longer held behind its own probe')
  await a.succeeded()

  // After a success, the next half-open period gets a probe again.
  for (let i = 0; i < 2; i++) {
    await b.admit()
    await b.failed(failure)
  }
  clock += 5_000
  t.equal(await shortCircuit(a), undefined, 'a probe after an earlier success')
})
