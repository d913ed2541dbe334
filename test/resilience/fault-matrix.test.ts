import { readFileSync } from 'node:fs'
import t, { type Test } from 'tap'
import { freshnessOf } from '../helpers/freshness.ts'
import { startHarness, type Harness } from '../helpers/harness.ts'
import { FAULT_CASES, renderMatrix, type FaultCase } from './fault-cases.ts'

/**
 * Every upstream fault, for both routes, with an empty cache and with a stale copy: status, body,
 * Cache-Status and the exact number of upstream attempts. The harness's clock ages the copy and takes the
 * backoff without waiting; the only real waits are the attempt timeouts of the faults that are timeouts (1 s:
 * long enough that no other case's attempt count depends on how fast a busy machine lets the sandbox answer).
 */
const ENV = {
  UPSTREAM_TIMEOUT_MS: '1000',
  UPSTREAM_ATTEMPT_TIMEOUT_MS: '1000',
  UPSTREAM_RETRIES: '2',
  BREAKER_FAILURE_THRESHOLD: '1000'
}
const ROUTES = [
  // How far to move the clock to make the entry stale but past stale-while-revalidate, inside stale-if-error.
  { path: '/profile', staleBy: 100_000 },
  { path: '/profile/balance', staleBy: 10_000 }
]

function inject (h: Harness, c: FaultCase): Promise<void> | undefined {
  if (c.fault === 'refused') return h.sandbox.close()
  const fault = c.fault.kind === 'status' && c.fault.headers?.['retry-after'] === 'DATE+30'
    ? { ...c.fault, headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() } }
    : c.fault
  h.sandbox.inject(fault)
  return undefined
}

/** Attempts the last fetch made, from its log line. */
function lastAttempts (h: Harness): unknown {
  return h.logs.filter((l) => l.component === 'vobiz' && l.upstream !== undefined).at(-1)?.upstream as unknown
}

const key = (h: Harness) => ({ 'x-api-key': h.keys.profile })

for (const route of ROUTES) {
  t.test(`fault matrix on ${route.path}`, async (t) => {
    for (const c of FAULT_CASES) {
      await t.test(`${c.name}, empty cache`, async (t) => {
        const h = await startHarness(t, { env: ENV })
        await inject(h, c)
        const res = await h.get(route.path, key(h))
        t.equal(res.status, c.empty.status)
        t.match(res.json(), { code: c.empty.code, status: c.empty.status })
        if (c.empty.retryAfter === true) t.ok(Number(res.headers['retry-after']) >= 29, `Retry-After ${res.headers['retry-after']}`)
        t.notOk('cache-status' in res.headers)
        t.match(lastAttempts(h), { attempts: c.attempts, outcome: c.empty.code })
        t.equal(h.sandbox.requests, c.fault === 'refused' ? 0 : c.attempts, 'upstream requests')
        await afterwards(t, h, c, route.path)
      })

      await t.test(`${c.name}, stale copy`, async (t) => {
        const h = await startHarness(t, { env: ENV })
        const primed = await h.get(route.path, key(h))
        t.equal(primed.status, 200)
        const primedWith = h.sandbox.requests
        h.clock.advance(route.staleBy)
        await inject(h, c)
        const res = await h.get(route.path, key(h))
        t.equal(res.status, 200)
        t.equal(res.text, primed.text, 'the stale copy, unchanged (as_of still tells when it was fetched)')
        // A short circuit (breaker open, cool-down) never went forward: a stale hit. Anything else went forward and failed.
        const served = c.staleDetail === 'stale-if-error' ? 'fwd=stale' : 'hit'
        t.match(res.headers['cache-status'], new RegExp(`^vobiz-bff; ${served}; ttl=-\\d+; detail=${c.staleDetail}$`))
        const freshness = freshnessOf(res.headers)
        t.equal(freshness.left, freshness.ttl, 'max-age − Age is the (negative) ttl: every cache sees it is stale')
        t.ok(Number(res.headers.age) >= route.staleBy / 1000, `Age ${res.headers.age}`)
        t.match(lastAttempts(h), { attempts: c.attempts })
        t.equal(h.sandbox.requests - primedWith, c.fault === 'refused' ? 0 : c.attempts, 'upstream requests')
      })
    }
  })
}

/** After the fault: a 429 holds everyone off (no upstream call); otherwise the service recovers once it clears. */
async function afterwards (t: Test, h: Harness, c: FaultCase, path: string): Promise<void> {
  const before = h.sandbox.requests
  if (c.empty.code === 'upstream_rate_limited') {
    const held = await h.get(path, key(h))
    t.equal(held.status, 503, 'still cooling down')
    t.equal(h.sandbox.requests, before, 'the cool-down is shared: no upstream request')
    return
  }
  if (c.fault === 'refused') return
  h.sandbox.clearFaults()
  const recovered = await h.get(path, key(h))
  t.equal(recovered.status, 200, 'recovers once the fault clears')
  t.match(recovered.headers['cache-status'], /fwd=miss; fwd-status=200; stored/)
}

t.test('the docs/caching.md table is rendered from these cases', async (t) => {
  const readme = readFileSync(new URL('../../docs/caching.md', import.meta.url), 'utf8')
  const table = renderMatrix()
  t.ok(readme.includes(table), 'docs/caching.md lacks the current fault matrix; paste the table in this test\'s diagnostic', { table })
})
