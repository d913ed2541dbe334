import { writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import t from 'tap'
import { generateApiKey, type Scope } from '../../src/consumers.ts'
import { directory, replaceFile } from '../helpers/files.ts'
import { consumersJson, startHarness, type Harness } from '../helpers/harness.ts'
import { startIssuer } from '../helpers/issuer.ts'
import { openEventStream, type EventStream } from '../helpers/sse.ts'
import { until } from '../helpers/time.ts'

// A stream keeps the guarantees its request had for as long as it is open: the credential it was opened with
// is judged again when it can change, and whatever ends it, its count is given back.

const metric = async (h: Harness, name: string): Promise<string> => await h.app.metrics.registry.getSingleMetricAsString(name)
const closedBy = async (h: Harness, reason: string): Promise<number> =>
  Number(new RegExp(`reason="${reason}"} (\\d+)$`, 'm').exec(await metric(h, 'vobiz_bff_event_streams_closed_total'))?.[1])
const openStreams = async (h: Harness): Promise<number> => Number(/ (\d+)$/m.exec(await metric(h, 'vobiz_bff_event_streams'))?.[1])

/** The stream's last message, once the service has ended it. */
async function endOf (stream: EventStream): Promise<unknown> {
  await stream.ended
  const last = stream.events.at(-1)
  return last?.event === 'end' ? JSON.parse(last.data) : undefined
}

t.test('a consumers reload ends the streams of revoked keys and of keys that lost profile:read, logged once; the others go on', async (t) => {
  const dir = directory(t)
  const file = join(dir, 'consumers.json')
  const keys = { alpha: generateApiKey(), beta: generateApiKey(), gamma: generateApiKey(), delta: generateApiKey(), rotated: generateApiKey(), epsilon: generateApiKey() }
  const list = (entries: Record<string, { key: string, scopes: Scope[] }>): string => consumersJson(entries)
  writeFileSync(file, list({
    alpha: { key: keys.alpha, scopes: ['profile:read'] },
    beta: { key: keys.beta, scopes: ['profile:read'] },
    gamma: { key: keys.gamma, scopes: ['balance:read'] },
    delta: { key: keys.delta, scopes: ['profile:read', 'balance:read'] },
    epsilon: { key: keys.epsilon, scopes: ['balance:read'] }
  }))
  const issuer = await startIssuer(t)
  await issuer.addKey('k1')
  const h = await startHarness(t, {
    env: { CONSUMERS: '', CONSUMERS_FILE: file, BALANCE_TTL_SECONDS: '1', JWT_JWKS_URL: issuer.url, JWT_ISSUER: 'https://login.example.test/', JWT_AUDIENCE: 'vobiz-bff' }
  })
  const open = async (key: string): Promise<EventStream> => {
    const stream = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': key })
    t.equal(stream.status, 200)
    await stream.next(1)
    return stream
  }
  const alpha = await open(keys.alpha)
  const betas = [await open(keys.beta), await open(keys.beta)]
  const gamma = await open(keys.gamma)
  const delta = await open(keys.delta)
  const epsilon = await open(keys.epsilon)
  const user = await openEventStream(t, `${h.url}/profile/events`, { authorization: `Bearer ${await issuer.sign({ sub: 'user-1', scope: 'profile:read' })}` })
  await user.next(1)
  t.equal(await openStreams(h), 7)

  // alpha removed; beta down to balance:read; gamma's key rotated (same name, another key); epsilon renamed
  // (same key, another consumer: its places are the new name's); delta unchanged.
  replaceFile(file, list({
    beta: { key: keys.beta, scopes: ['balance:read'] },
    gamma: { key: keys.rotated, scopes: ['balance:read'] },
    delta: { key: keys.delta, scopes: ['profile:read', 'balance:read'] },
    zeta: { key: keys.epsilon, scopes: ['balance:read'] }
  }))
  t.match(await endOf(alpha), { reason: 'revoked', detail: /no longer accepted/ }, 'a removed key\'s stream ends, saying why')
  for (const beta of betas) t.match(await endOf(beta), { reason: 'scope_reduced' }, 'a key that lost profile:read: its profile stream ends')
  t.match(await endOf(gamma), { reason: 'revoked' }, 'a rotated key\'s stream ends')
  t.match(await endOf(epsilon), { reason: 'revoked' }, 'a renamed consumer\'s stream ends: one key never holds two callers\' places')
  t.equal(alpha.events.at(-1)?.id, undefined, 'the end message has no id: Last-Event-ID stays the last change received')
  t.equal(alpha.retries.at(-1), 1000)

  await until('the reload to be logged', () => h.logs.some((l) => l.msg === 'event streams ended: the consumers reload changed what their keys allow'))
  const lines = h.logs.filter((l) => l.msg === 'event streams ended: the consumers reload changed what their keys allow')
  t.equal(lines.length, 1, 'one line for the reload, not one per stream')
  t.match(lines[0], { ended: { revoked: 3, scope_reduced: 2 } })
  t.same([...(lines[0]?.callers as string[])].sort(), ['alpha', 'beta', 'epsilon', 'gamma'])
  t.equal(await closedBy(h, 'revoked'), 3)
  t.equal(await closedBy(h, 'scope_reduced'), 2)
  t.equal(await openStreams(h), 2, 'each ended stream uncounted')

  // Reconnecting with the old credentials: what a new request gets.
  t.equal((await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': keys.alpha })).status, 401)
  t.equal((await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': keys.gamma })).status, 401)
  t.equal((await open(keys.epsilon)).status, 200, 'the renamed consumer reconnects under its new name')
  const narrowed = await open(keys.beta)
  t.same(Object.keys(JSON.parse(narrowed.events[0]?.data ?? '{}')), ['balance'], 'beta reconnects to a balance-only stream')

  // delta's stream was left alone and still hears changes.
  h.sandbox.update({ email: 'billing@example.org' })
  h.clock.advance(1000)
  await until('delta to hear the change', () => delta.events.some((e) => e.event === 'contact'))
  t.notOk(delta.events.some((e) => e.event === 'end'))
  await until('the bearer stream to hear it too', () => user.events.some((e) => e.event === 'contact'))
  t.notOk(user.events.some((e) => e.event === 'end'), 'a consumers reload leaves bearer-token streams alone')
  t.notOk(narrowed.events.some((e) => e.event === 'contact'), 'no contact event for balance:read')
  for (const key of Object.values(keys)) t.notOk(h.rawLogs().includes(key), 'keys never logged')
})

t.test('a bearer-token stream ends when its token expires (with JWT_CLOCK_TOLERANCE_SECONDS); a reconnect with it gets 401', async (t) => {
  const issuer = await startIssuer(t)
  await issuer.addKey('k1')
  const h = await startHarness(t, {
    env: { JWT_JWKS_URL: issuer.url, JWT_ISSUER: 'https://login.example.test/', JWT_AUDIENCE: 'vobiz-bff', JWT_CLOCK_TOLERANCE_SECONDS: '1' }
  })
  // A token that expires soon; one that expired before the stream opened would be refused, so try longer ones
  // until one is still valid when the service checks it (a busy machine may take a while).
  let stream: EventStream | undefined
  let token = ''
  for (let seconds = 2; stream === undefined; seconds *= 2) {
    token = await issuer.sign({ sub: 'user-1', scope: 'profile:read' }, { exp: Math.floor(Date.now() / 1000) + seconds })
    const attempt = await openEventStream(t, `${h.url}/profile/events`, { authorization: `Bearer ${token}` })
    if (attempt.status === 200) stream = attempt
    else t.equal(attempt.status, 401)
  }
  await stream.next(1)
  t.match(await endOf(stream), { reason: 'expired', detail: /expired/ }, 'the stream ends at exp, saying why')
  const again = await openEventStream(t, `${h.url}/profile/events`, { authorization: `Bearer ${token}` })
  t.equal(again.status, 401, 'the same token is refused')
  await again.ended
  t.match(JSON.parse(again.text()), { code: 'invalid_token' })
  t.equal(await closedBy(h, 'expired'), 1)
  t.equal(await openStreams(h), 0)

  // A token good for much longer than a Node timer can wait keeps its stream open.
  const lasting = await openEventStream(t, `${h.url}/profile/events`, {
    authorization: `Bearer ${await issuer.sign({ sub: 'user-2', scope: 'balance:read' }, { exp: Math.floor(Date.now() / 1000) + 60 * 86_400 })}`
  })
  t.equal(lasting.status, 200)
  await lasting.next(1)
  lasting.close()
  await until('the stream to be uncounted', async () => await openStreams(h) === 0)
  t.equal(await closedBy(h, 'client'), 1)
})

t.test('a client that leaves while the first fetch is awaited leaves nothing counted, subscribed or kept fresh', async (t) => {
  const h = await startHarness(t, { env: { EVENTS_MAX_STREAMS_PER_CALLER: '2' } })
  // Cold start and a slow Vobiz: the stream handlers wait for the first fetch, and their clients give up.
  h.sandbox.hold()
  const clients = [1, 2, 3].map(() => {
    const req = request(`${h.url}/profile/events`, { headers: { 'x-api-key': h.keys.profile, accept: 'text/event-stream' } })
    req.on('error', () => {})
    req.end()
    return req
  })
  await h.sandbox.received(1)
  await h.arrived(3)
  for (const client of clients) client.destroy()
  await until('the app to see its clients gone', async () => await new Promise<number>((resolve, reject) => {
    h.app.server.getConnections((err, count) => { if (err === null) resolve(count); else reject(err) })
  }) === 0)
  h.sandbox.release()
  // The handlers go on once the fetch is in (in the same turn as the tracker learns the profile).
  await until('the first fetch', () => h.app.changes.tracker.latest !== undefined)
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(await openStreams(h), 0, 'no stream counted')
  t.equal(h.app.changes.keepFresh.holders, 0, 'nobody keeps the profile fresh')
  t.equal(await closedBy(h, 'client'), 0, 'nothing to uncount: they never opened')
  const streams = [await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile }), await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })]
  t.same(streams.map((s) => s.status), [200, 200], 'the caller\'s places are all free')
  t.equal(h.app.changes.keepFresh.holders, 2)
})

t.test('streams opened together during a cold start are admitted within the caller\'s limit once the fetch is in', async (t) => {
  const h = await startHarness(t, { env: { EVENTS_MAX_STREAMS_PER_CALLER: '2' } })
  h.sandbox.hold()
  const opening = [1, 2, 3].map(async () => await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile }))
  await h.sandbox.received(1)
  await h.arrived(3)
  h.sandbox.release()
  const statuses = (await Promise.all(opening)).map((s) => s.status).sort()
  t.same(statuses, [200, 200, 429])
  t.equal(await openStreams(h), 2)
})

t.test('EVENTS_MAX_STREAMS: past it, a stream gets 503 with Retry-After while ordinary requests are served', async (t) => {
  const h = await startHarness(t, { env: { EVENTS_MAX_STREAMS: '2' } })
  const streams = [await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile }), await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance })]
  await Promise.all(streams.map(async (s) => await s.next(1)))
  const third = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance })
  t.equal(third.status, 503)
  t.equal(third.headers['retry-after'], '30')
  await third.ended
  t.match(JSON.parse(third.text()), { code: 'service_unavailable', detail: /EVENTS_MAX_STREAMS/ })
  t.equal((await h.get('/profile', { 'x-api-key': h.keys.profile })).status, 200, 'ordinary requests go on')
  t.equal((await h.get('/profile/balance', { 'x-api-key': h.keys.balance })).status, 200)
  streams[0]?.close()
  await until('a place to be free again', async () => {
    const again = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance })
    again.close()
    return again.status === 200
  })
})

t.test('a key revoked or narrowed while its stream waits for the first fetch gets what a new request would', async (t) => {
  const dir = directory(t)
  const file = join(dir, 'consumers.json')
  const keys = { mu: generateApiKey(), nu: generateApiKey(), keeper: generateApiKey() }
  writeFileSync(file, consumersJson({ mu: { key: keys.mu, scopes: ['profile:read'] }, nu: { key: keys.nu, scopes: ['profile:read'] }, keeper: { key: keys.keeper, scopes: ['profile:read'] } }))
  const h = await startHarness(t, { env: { CONSUMERS: '', CONSUMERS_FILE: file } })
  h.sandbox.hold()
  const mu = openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': keys.mu })
  const nu = openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': keys.nu })
  await h.sandbox.received(1)
  await h.arrived(2)
  replaceFile(file, consumersJson({ nu: { key: keys.nu, scopes: ['balance:read'] }, keeper: { key: keys.keeper, scopes: ['profile:read'] } }))
  await until('the reload', () => h.logs.some((l) => l.msg === 'consumers reloaded'))
  h.sandbox.release()
  const revoked = await mu
  t.equal(revoked.status, 401, 'the revoked key gets no stream')
  await revoked.ended
  t.match(JSON.parse(revoked.text()), { code: 'invalid_api_key' })
  const narrowed = await nu
  t.equal(narrowed.status, 200)
  await narrowed.next(1)
  t.same(Object.keys(JSON.parse(narrowed.events[0]?.data ?? '{}')), ['balance'], 'the narrowed key gets what it may see now')
  t.equal(await openStreams(h), 1)
})

t.test('a stream whose handler waits when shutdown begins is ended at once with `shutdown`, and the app closes', async (t) => {
  const h = await startHarness(t)
  h.sandbox.hold()
  const opening = openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  await h.sandbox.received(1)
  await h.arrived(1)
  const closing = h.app.close()
  await until('shutdown to begin', () => !h.app.server.listening)
  h.sandbox.release()
  const stream = await opening
  t.equal(stream.status, 200)
  t.match(await endOf(stream), { reason: 'shutdown' }, 'told to reconnect elsewhere')
  await closing
  t.equal(await closedBy(h, 'shutdown'), 1)
})

t.test('the opening snapshot is as fresh as GET /profile/balance, however long nobody listened', async (t) => {
  const h = await startHarness(t)
  t.equal((await h.get('/profile/balance', { 'x-api-key': h.keys.balance })).json().balance, 48250)
  h.sandbox.update({ balance: 2000 })
  h.clock.advance(40_000)
  const stream = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance })
  const [snapshot] = await stream.next(1)
  t.match(JSON.parse(snapshot?.data ?? '{}'), { balance: { balance: 2000 } }, 'fetched again, not the copy from 40 s before')
})

t.test('a bearer token that expires while its stream waits for the first fetch gets 401, as a new request would', async (t) => {
  const issuer = await startIssuer(t)
  await issuer.addKey('k1')
  const h = await startHarness(t, { env: { JWT_JWKS_URL: issuer.url, JWT_ISSUER: 'https://login.example.test/', JWT_AUDIENCE: 'vobiz-bff', JWT_CLOCK_TOLERANCE_SECONDS: '0' } })
  h.sandbox.hold()
  // A token still valid when the request arrives (longer ones until one is: a busy machine may take a while),
  // which then expires while the first fetch is held.
  let exp = 0
  let opening: Promise<EventStream> | undefined
  for (let seconds = 2; opening === undefined; seconds *= 2) {
    exp = Math.floor(Date.now() / 1000) + seconds
    const attempt = openEventStream(t, `${h.url}/profile/events`, { authorization: `Bearer ${await issuer.sign({ sub: 'user-1', scope: 'profile:read' }, { exp })}` })
    const first = await Promise.race([attempt.then(() => 'refused'), h.sandbox.received(1).then(() => 'waiting')])
    if (first === 'waiting') opening = attempt
  }
  await until('the token to expire', () => Date.now() >= exp * 1000)
  h.sandbox.release()
  const stream = await opening
  t.equal(stream.status, 401)
  await stream.ended
  t.match(JSON.parse(stream.text()), { code: 'invalid_token', detail: /expired/ })
  t.equal(stream.headers['www-authenticate'], 'Bearer error="invalid_token"')
  t.equal(await openStreams(h), 0)
})
