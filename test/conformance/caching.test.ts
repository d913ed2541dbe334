import CachePolicy from 'http-cache-semantics'
import { parseList, Token } from 'structured-headers'
import t, { type Test } from 'tap'
import { startHarness, type Harness, type Reply } from '../helpers/harness.ts'
import { until } from '../helpers/time.ts'

/**
 * What real clients make of the service's answers, read by libraries this project did not write:
 * http-cache-semantics (the RFC 9111 logic of many Node HTTP caches) and structured-headers (RFC 9651, the
 * syntax of Cache-Status, RateLimit and RateLimit-Policy). Every cacheable outcome is produced for real,
 * over a socket, with the harness's clock moved between requests.
 */

interface Observed { name: string, request: CachePolicy.Request, reply: Reply }

const PATH = '/profile'

function policyOf ({ request, reply }: Observed, shared: boolean): CachePolicy {
  return new CachePolicy(request, { status: reply.status, headers: reply.headers }, { shared })
}

/** Cache-Status parsed as RFC 9211 says: a List whose item is the cache's name, with parameters. */
function cacheStatusOf (reply: Reply): { cache: string, params: Map<string, unknown> } {
  const list = parseList(reply.headers['cache-status'] ?? '')
  const [item, params] = list[0] as [Token, Map<string, unknown>]
  return { cache: item instanceof Token ? item.toString() : String(item), params }
}

async function observe (h: Harness, name: string, headers: Record<string, string> = {}): Promise<Observed> {
  const request = { url: PATH, method: 'GET', headers: { host: 'bff.internal', 'x-api-key': h.keys.profile, ...headers } }
  return { name, request, reply: await h.get(PATH, request.headers) }
}

/** Every outcome a GET /profile can have, each as a client receives it. */
async function outcomes (t: Test): Promise<{ h: Harness, observed: Observed[] }> {
  const h = await startHarness(t, { env: { UPSTREAM_RETRIES: '0', BREAKER_FAILURE_THRESHOLD: '1000' } })
  const observed: Observed[] = []
  observed.push(await observe(h, 'miss'))
  h.clock.advance(12_000)
  observed.push(await observe(h, 'hit, 12 s old'))
  observed.push(await observe(h, 'forced refresh', { 'cache-control': 'no-cache' }))
  // Two refreshes while Vobiz holds the first: one fetch, the second request collapsed onto it.
  h.sandbox.hold()
  const first = observe(h, 'refresh that fetched', { 'cache-control': 'no-cache' })
  await h.sandbox.received(3)
  const second = observe(h, 'collapsed', { 'cache-control': 'no-cache' })
  await h.arrived(h.requests + 1)
  h.sandbox.release()
  observed.push(await first, await second)
  h.clock.advance(40_000)
  h.sandbox.hold()
  observed.push(await observe(h, 'stale-while-revalidate'))
  h.sandbox.release()
  await until('the background refresh', () => h.sandbox.requests === 4)
  h.clock.advance(100_000)
  h.sandbox.inject({ kind: 'status', status: 500 })
  observed.push(await observe(h, 'stale-if-error', { 'cache-control': 'no-cache' }))
  h.sandbox.clearFaults()
  return { h, observed }
}

t.test('http-cache-semantics agrees with Cache-Status on every outcome; private caches store, shared ones do not', async (t) => {
  const { observed } = await outcomes(t)
  t.same(observed.map((o) => o.reply.status), observed.map(() => 200))
  t.same(observed.map((o) => cacheStatusOf(o.reply).params.has('hit') ? 'hit' : String(cacheStatusOf(o.reply).params.get('fwd'))),
    ['miss', 'hit', 'request', 'request', 'request', 'hit', 'stale'], 'the outcomes the test meant to produce')
  for (const o of observed) {
    const ttl = Number(cacheStatusOf(o.reply).params.get('ttl'))
    const privateCache = policyOf(o, false)
    t.ok(privateCache.storable(), `${o.name}: a private cache (a browser, a client library) may store it`)
    t.ok(Math.abs(privateCache.timeToLive() - Math.max(0, ttl) * 1000) <= 1000,
      `${o.name}: http-cache-semantics gives ${privateCache.timeToLive()} ms of freshness; Cache-Status says ttl=${ttl}`)
    t.equal(privateCache.stale(), ttl <= 0, `${o.name}: stale exactly when Cache-Status ttl says so`)
    t.notOk(policyOf(o, true).storable(), `${o.name}: a shared cache (a proxy, a CDN) must not store it (private)`)
  }
})

t.test('a 304 revalidation keeps the stored entry, as http-cache-semantics reads it', async (t) => {
  // Vobiz's data does not change (a fixed sandbox clock), so a refetch keeps the ETag.
  const h = await startHarness(t, { sandbox: { now: () => Date.parse('2026-01-01T00:00:00Z') } })
  const stored = await observe(h, 'first')
  h.clock.advance(31_000)
  const policy = policyOf(stored, false)
  // (The library measures its own copy's age on the real clock; only the service's clock was moved.)
  await observe(h, 'someone else refreshes', { 'cache-control': 'no-cache' })
  const revalidation = policy.revalidationHeaders({ url: PATH, method: 'GET', headers: stored.request.headers }) as Record<string, string>
  t.equal(revalidation['if-none-match'], stored.reply.headers.etag, 'the library revalidates with the ETag')
  const notModified = await h.get(PATH, revalidation)
  t.equal(notModified.status, 304)
  const { policy: updated, modified } = policy.revalidatedPolicy(stored.request, { status: 304, headers: notModified.headers })
  t.notOk(modified, 'the stored body is still current')
  t.ok(updated.timeToLive() > 0 && updated.timeToLive() <= 30_000, `fresh again for ${updated.timeToLive()} ms`)
  t.notOk('content-type' in notModified.headers, 'no Content-Type on the 304')
})

t.test('Cache-Status, RateLimit and RateLimit-Policy parse as RFC 9651 structured fields, with the types their specs give', async (t) => {
  const { h, observed } = await outcomes(t)
  for (const { name, reply } of observed) {
    const { cache, params } = cacheStatusOf(reply)
    t.equal(cache, 'vobiz-bff', `${name}: the cache's name is a token`)
    t.type(params.get('ttl'), 'number', `${name}: ttl is an Integer (RFC 9211 §2.4)`)
    if (params.has('hit')) t.equal(params.get('hit'), true, 'hit is a Boolean')
    else {
      t.type(params.get('fwd'), Token, `${name}: fwd is a Token (RFC 9211 §2.2)`)
      if (params.has('fwd-status')) t.type(params.get('fwd-status'), 'number')
    }
    if (params.has('detail')) t.ok(params.get('detail') instanceof Token || typeof params.get('detail') === 'string', 'detail is a Token or String')
    const [limit] = parseList(reply.headers.ratelimit ?? '') as Array<[unknown, Map<string, unknown>]>
    t.equal(limit?.[0], 'default', `${name}: RateLimit names its policy as a String`)
    t.type(limit?.[1].get('r'), 'number')
    t.type(limit?.[1].get('t'), 'number')
    const [policy] = parseList(reply.headers['ratelimit-policy'] ?? '') as Array<[unknown, Map<string, unknown>]>
    t.equal(policy?.[0], 'default')
    t.equal(policy?.[1].get('q'), 600)
    t.equal(policy?.[1].get('w'), 60)
  }
  const anonymous = await h.get(PATH)
  const [item] = parseList(anonymous.headers['ratelimit-policy'] ?? '') as Array<[unknown, Map<string, unknown>]>
  t.equal(item?.[0], 'anonymous', 'and on errors, for anonymous callers')
})
