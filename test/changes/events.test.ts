import t from 'tap'
import { startHarness } from '../helpers/harness.ts'
import { openEventStream } from '../helpers/sse.ts'
import { until } from '../helpers/time.ts'

// GET /profile/events in-process: the harness's clock drives the keep-fresh loop, the sandbox changes its
// profile as Vobiz would.

t.test('a snapshot first, then each change as it is detected; balance-only callers see balances only', async (t) => {
  // A 1 s balance freshness: the keep-fresh loop runs on the process's timers, once a second here.
  const h = await startHarness(t, { env: { BALANCE_THRESHOLDS: '40000', BALANCE_TTL_SECONDS: '1' } })
  h.sandbox.update({ balance: 48250 })
  const reader = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  t.equal(reader.status, 200)
  t.match(reader.headers['content-type'], /^text\/event-stream/)
  t.equal(reader.headers['x-content-type-options'], 'nosniff', 'the API\'s security headers')
  t.ok(reader.headers['x-request-id'])
  // What the OpenAPI document says the 200 carries.
  t.equal(reader.headers['cache-control'], 'no-cache')
  t.equal(reader.headers['x-accel-buffering'], 'no')
  t.match(reader.headers.ratelimit, /^"default";r=\d+;t=\d+$/)
  t.equal(reader.headers['ratelimit-policy'], '"default";q=600;w=60')
  const [snapshot] = await reader.next(1)
  t.equal(snapshot?.event, 'snapshot')
  t.match(JSON.parse(snapshot?.data ?? '{}'), { balance: { balance: 48250, currency: 'INR' }, profile: { gst_status: 'active', balance: 48250 } })
  t.same(reader.retries, [1000], 'a reconnection hint')

  const billing = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance })
  const [balanceSnapshot] = await billing.next(1)
  t.same(Object.keys(JSON.parse(balanceSnapshot?.data ?? '{}')), ['balance'], 'no profile for balance:read')

  h.sandbox.update({ gst_status: 'inactive', balance: 39000 })
  // The streams keep the profile fresh: once the copy is a balance period old, the service fetches by itself.
  const fetched = h.sandbox.requests
  h.clock.advance(1000)
  await h.sandbox.received(fetched + 1)
  const [, gst, balance] = await reader.next(3)
  t.equal(gst?.event, 'billing')
  t.match(JSON.parse(gst?.data ?? '{}'), { gst_status: 'inactive', changed: ['gst_status'] })
  t.equal(balance?.event, 'balance')
  t.match(JSON.parse(balance?.data ?? '{}'), { balance: 39000, previous_balance: 48250, crossed: [{ threshold: 40000, direction: 'below' }] })
  const [, onlyBalance] = await billing.next(2)
  t.equal(onlyBalance?.event, 'balance')
  t.equal(onlyBalance?.id, balance?.id, 'the same change has the same id on every stream')
  t.equal(billing.events.filter((e) => e.event === 'billing').length, 0, 'billing events are not for balance:read')

  // Resume: what was missed after the snapshot, then live.
  const resumed = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile, 'last-event-id': snapshot?.id ?? '' })
  const replay = await resumed.next(2)
  t.same(replay.map((e) => e.event), ['billing', 'balance'], 'Last-Event-ID: the changes after it')
  const lost = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile, 'last-event-id': 'no-such-id' })
  t.same((await lost.next(1)).map((e) => e.event), ['snapshot'], 'an id that cannot be resumed from: a snapshot')
})

t.test('refusals are problems: no key, wrong Accept, too many streams; the drain ends streams with a retry hint', async (t) => {
  const h = await startHarness(t, { env: { EVENTS_MAX_STREAMS_PER_CALLER: '2' } })
  const anonymous = await openEventStream(t, `${h.url}/profile/events`)
  t.equal(anonymous.status, 401)
  t.match(anonymous.headers['content-type'], /application\/problem\+json/)
  const query = await openEventStream(t, `${h.url}/profile/events?since=1`, { 'x-api-key': h.keys.profile })
  t.equal(query.status, 400, 'no query parameters, as on every API route')
  await query.ended
  t.match(JSON.parse(query.text()), { code: 'bad_request' })
  const json = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile, accept: 'application/json' })
  t.equal(json.status, 406)
  await json.ended
  t.match(JSON.parse(json.text()), { code: 'not_acceptable' })
  const refusing = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile, accept: 'application/json, text/event-stream;q=0' })
  t.equal(refusing.status, 406, 'text/event-stream;q=0 refuses it (RFC 9110 §12.5.1)')
  await refusing.ended
  // Any Accept that admits it: absent, empty, a wildcard, the type itself.
  for (const accept of [undefined, '', '*/*', 'text/*;q=0.5', 'TEXT/EVENT-STREAM']) {
    const admitted = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance, accept })
    t.equal(admitted.status, 200, `Accept: ${JSON.stringify(accept)}`)
    await admitted.next(1)
    admitted.close()
    await admitted.ended
  }

  const streams = [await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile }), await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })]
  await Promise.all(streams.map(async (s) => await s.next(1)))
  const third = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  t.equal(third.status, 429)
  await third.ended
  t.match(JSON.parse(third.text()), { code: 'rate_limited' })
  t.equal(third.headers['retry-after'], '5')
  const other = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.balance })
  t.equal(other.status, 200, 'the limit is per caller')
  streams[0]?.close()
  await streams[0]?.ended
  await t.resolves(async () => {
    for (;;) {
      const again = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
      if (again.status === 200) return
      await again.ended
    }
  }, 'a closed stream frees its place')

  const closing = h.app.close()
  await Promise.all([...streams.slice(1), other].map(async (s) => await s.ended))
  await closing
  t.ok(streams[1]?.retries.at(-1) === 1000, 'ended with a retry hint, so the client reconnects (to another replica)')
  t.match(JSON.parse(streams[1]?.events.at(-1)?.data ?? '{}'), { reason: 'shutdown', detail: /reconnect/ }, 'and told why')
  t.equal(streams[1]?.events.at(-1)?.event, 'end')
})

t.test('a client that stops reading is cut off once EVENTS_MAX_BUFFERED_BYTES are unread; the others go on', async (t) => {
  const h = await startHarness(t, { env: { EVENTS_MAX_BUFFERED_BYTES: '262144', REFRESH_PER_MINUTE: '100000', RATE_LIMIT_PER_MINUTE: '100000' } })
  const stalled = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  const reading = await openEventStream(t, `${h.url}/profile/events`, { 'x-api-key': h.keys.profile })
  await stalled.next(1)
  stalled.pause()
  // Large contact changes, one per forced refresh (in-process: only the streams use sockets), until the
  // stalled client's socket is full and more waits in the process.
  const text = (c: string): string => c.repeat(500)
  let changes = 0
  await until('the stalled stream to be closed', async () => {
    const c = changes++ % 2 === 0 ? 'A' : 'B'
    h.sandbox.update({ name: text(c), company: text(c), email: `${text(c)}@example.com` })
    h.clock.advance(1)
    const refreshed = await h.app.inject({ url: '/profile', headers: { 'x-api-key': h.keys.profile, 'cache-control': 'no-cache' } })
    if (refreshed.statusCode !== 200) throw new Error(`refresh answered ${refreshed.statusCode}`)
    return h.logs.some((l) => l.msg === 'event stream closed: its client left EVENTS_MAX_BUFFERED_BYTES unread')
  }, 150_000)
  t.match(await h.app.metrics.registry.getSingleMetricAsString('vobiz_bff_event_streams_closed_total'), /reason="slow"} 1$/m)
  await reading.next(changes)
  t.equal(reading.events.filter((e) => e.event === 'contact').length, changes - 1, 'the reading client heard every change')
  stalled.resume()
  await stalled.ended
  t.pass('the stalled stream ended; what it had been sent before is still read')
})
