import { fastifySSE } from '@fastify/sse'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { FeedEvent } from '../changes/feed.ts'
import type { Observed } from '../changes/tracker.ts'
import { hasAnyScope } from '../consumers.ts'
import { ALL_END_REASONS, END_DETAIL, EventStreams, type EndReason, type StreamLimits } from '../http/event-streams.ts'
import { rejectQuery, routeGuard } from '../http/guard.ts'
import { authorize, invalidToken, type Caller, type Identity } from '../http/identity.ts'
import { problem } from '../http/problems.ts'
import { balanceOf } from '../profile-snapshot.ts'
import { BalanceEvent, BillingEvent, ContactEvent, EndEvent, SnapshotEvent, type ChangeEventData } from '../schemas/events.ts'
import { apiErrorResponses, problemResponse, STREAM_HEADERS } from '../schemas/responses.ts'

export interface EventRoutesOptions {
  /** EVENTS_HEARTBEAT_SECONDS, in ms. */
  heartbeatMs: number
  /** EVENTS_MAX_STREAMS and EVENTS_MAX_STREAMS_PER_CALLER. */
  limits: StreamLimits
  /** EVENTS_MAX_BUFFERED_BYTES. */
  maxBufferedBytes: number
}

const URL = '/profile/events'
/** How soon a client reconnects after the stream ends (the `retry:` field): a drained replica's clients go to another one. */
const RETRY_MS = 1000
/** The scopes that admit a stream: either one. */
const SCOPES = ['profile:read', 'balance:read'] as const

/**
 * RFC 9110 §12.5.1, as an event stream needs it: no Accept, a wildcard or `text/event-stream` (not with
 * q=0) admits the stream; a client that asks only for something else gets 406.
 */
function acceptsEventStream (accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return true
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase())
    const refused = params.some((param) => /^q=0(?:\.0{0,3})?$/.test(param))
    return !refused && (type === 'text/event-stream' || type === 'text/*' || type === '*/*')
  })
}

/** Balance-only callers (balance:read) are told balance changes and balances only. */
function readsProfile (identity: Caller): boolean {
  return hasAnyScope(identity, ['profile:read'])
}

/** The longest delay a Node timer takes (about 24.8 days); a later expiry is reached in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** Calls `fire` once the wall clock reaches `at` (ms since epoch), on an unreferenced timer; returns the way to cancel. */
function atTime (at: number, fire: () => void): () => void {
  let timer: NodeJS.Timeout
  const arm = (): void => {
    const delay = at - Date.now()
    if (delay <= 0) {
      fire()
      return
    }
    timer = setTimeout(arm, Math.min(delay, MAX_TIMER_MS))
    timer.unref()
  }
  arm()
  return () => { clearTimeout(timer) }
}

/**
 * One message in the event-stream format (HTML Living Standard §9.2.6). `data` is JSON, which has no line
 * breaks of its own, so it is always one `data:` line; ids and event names are the service's own tokens.
 */
function frame ({ retry, id, event }: { retry?: number, id?: string, event?: string }, data?: unknown): string {
  return (retry === undefined ? '' : `retry: ${retry}\n`) + (id === undefined ? '' : `id: ${id}\n`) +
    (event === undefined ? '' : `event: ${event}\n`) + (data === undefined ? '' : `data: ${JSON.stringify(data)}\n`) + '\n'
}

const DESCRIPTION = [
  'Server-Sent Events: the current state first (`event: snapshot`), then one event per change the service detects between',
  'two Vobiz fetches — `billing` (GSTIN, GST status, TDS, account type, status), `contact` (name, email, phone, company)',
  'and `balance` (any change, with the `BALANCE_THRESHOLDS` crossed). While a stream is open the service keeps the',
  'profile fresh itself, one Vobiz fetch per balance freshness period at most, for every stream together.',
  '',
  'Each event\'s `id` orders it; reconnect with `Last-Event-ID` to get what you missed (or a `snapshot` when that is no',
  'longer kept). Comment lines (`: heartbeat`) keep idle streams open. Callers with only `balance:read` get balance',
  'events and a snapshot without the profile. The stream lasts only as long as its credential: a key revoked or',
  'narrowed by a consumers reload, or a bearer token past its `exp`, ends it with a last `event: end` saying why.',
  'Browsers: `EventSource` cannot send headers, so use a fetch-based client with `X-API-Key` or `Authorization`',
  '(see docs/api.md).'
].join(' ')

const eventRoutes: FastifyPluginAsyncTypebox<EventRoutesOptions> = async (app, { heartbeatMs, limits, maxBufferedBytes }) => {
  const { profiles: cache, changes: { feed, tracker, keepFresh }, metrics, identify } = app
  await app.register(fastifySSE, { heartbeatInterval: heartbeatMs })
  // Every stream is sent the same event object: formatted and encoded once per event, not once per subscriber.
  const frames = new WeakMap<FeedEvent<ChangeEventData>, Buffer>()
  const changeFrame = (event: FeedEvent<ChangeEventData>): Buffer => {
    let bytes = frames.get(event)
    if (bytes === undefined) {
      bytes = Buffer.from(frame({ id: event.id, event: event.class }, event.data))
      frames.set(event, bytes)
    }
    return bytes
  }
  const guard = routeGuard(app)
  const streams = new EventStreams(limits)
  metrics.watch({ eventStreams: () => streams.size })
  for (const reason of ALL_END_REASONS) metrics.eventStreamsClosed.inc({ reason }, 0)
  const log = app.log.child({ component: 'events' })

  const authorizeStream = authorize(SCOPES)
  let closing = false

  /**
   * What an open API-key stream's key allows now, as a new request with it would be judged: `revoked` when the
   * key matches no consumer, or another consumer than the stream's (a rename counts, so that one key never
   * holds two callers' places); `scope_reduced` when a profile stream's key lost profile:read. Every consumer
   * holds one of the route's scopes, so any other key still accepted may keep its stream.
   */
  function standing (opened: Caller, now: Identity): EndEvent['reason'] | undefined {
    if (now.kind === 'anonymous' || now.name !== opened.name) return 'revoked'
    return readsProfile(opened) && !readsProfile(now as Caller) ? 'scope_reduced' : undefined
  }

  /**
   * The caller as its credential stands when its stream is about to open, after the handler's waits: a reload
   * may have revoked or narrowed its key, its token may have expired. Refused as a new request would be.
   */
  function judgedNow (request: FastifyRequest): Caller {
    const opened = request.identity as Caller
    if (opened.kind === 'jwt') {
      if (Date.now() >= opened.expiresAt) throw invalidToken('the token has expired')
      return opened
    }
    // An X-API-Key is looked up synchronously.
    const now = identify(request) as Identity
    const refused = authorizeStream(now)
    if (refused !== undefined) throw refused
    return now as Caller
  }

  // Shutdown: every stream ends (`event: end`, `shutdown`) with a short retry hint, so its client reconnects;
  // one whose handler is still waiting ends as soon as it opens.
  app.addHook('preClose', (done) => {
    closing = true
    streams.review(() => 'shutdown')
    done()
  })

  // A consumers reload: every API-key stream is judged again by its key (bearer streams end at their `exp`).
  app.onConsumersReload(() => {
    const { ended, callers } = streams.review(({ identity, reidentify }) => identity.kind === 'api-key' ? standing(identity, reidentify()) : undefined)
    if (callers.length > 0) log.info({ ended, callers }, 'event streams ended: the consumers reload changed what their keys allow')
  })

  /**
   * The whole current state, as `identity` may see it, "as of" the feed's newest id: made once per state and
   * view, for every stream that opens until the next change (a reconnection storm costs one serialisation).
   */
  let snapshots: { latest: Observed, lastId: string, profile?: Buffer, balance?: Buffer } | undefined
  function snapshot (identity: Caller): Buffer {
    const latest = tracker.latest
    /* c8 ignore next */
    if (latest === undefined) throw problem('internal_error', 'No profile has been fetched yet.')
    if (snapshots?.latest !== latest || snapshots.lastId !== feed.lastId) snapshots = { latest, lastId: feed.lastId }
    const view = readsProfile(identity) ? 'profile' : 'balance'
    let bytes = snapshots[view]
    if (bytes === undefined) {
      const balance = balanceOf(latest.profile, latest.fetchedAt)
      bytes = Buffer.from(frame({ id: feed.lastId, event: 'snapshot' }, view === 'profile' ? { balance, profile: { ...latest.profile, as_of: balance.as_of } } : { balance }))
      snapshots[view] = bytes
    }
    return bytes
  }

  async function stream (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    rejectQuery(request)
    if (!acceptsEventStream(request.headers.accept)) throw problem('not_acceptable', 'This route only produces text/event-stream.')
    // Authorised by the guard (profile:read or balance:read): a caller the service knows.
    const refusal = streams.refusal(request.identity as Caller)
    if (refusal !== undefined) throw refusal
    // The snapshot is as fresh as GET /profile/balance: a cached copy within BALANCE_TTL_SECONDS, or a fetch
    // (this fetch's failure is the answer's).
    await cache.get('balance', { requestId: request.id })
    // A replica that has just started resumes from the fleet's stream only once it has read it.
    await feed.ready
    // What was checked before those waits is checked again after them: the credential, and the limits (streams
    // opened together are admitted one by one).
    const identity = judgedNow(request)
    const late = streams.refusal(identity)
    if (late !== undefined) throw late
    // A client that left while this handler waited is gone: nothing is counted, subscribed or kept fresh for it.
    if (reply.raw.destroyed) return
    // From here to the last initial message nothing waits, so no change can slip in between, and the stream
    // is counted exactly while its socket is open.
    let endedBy: EndReason = 'client'
    /**
     * Ends the stream with a last message saying why; it is uncounted as it closes. Called at most once: once
     * closed, the stream is out of every list that could end it.
     */
    function end (reason: EndEvent['reason']): void {
      endedBy = reason
      write(frame({ retry: RETRY_MS, event: 'end' }, { reason, detail: END_DETAIL[reason] }))
      reply.sse.close()
      // What a slow client left unread is dropped with its connection: it resumes from the last id it read.
      if (reason === 'slow') reply.raw.destroy()
    }
    // A message is written at once, in order (nothing waits for the socket to drain). A client that does not
    // read cannot make the process hold its messages: past EVENTS_MAX_BUFFERED_BYTES unread, its stream is
    // closed (it reconnects and resumes, or gets a snapshot).
    function write (text: string | Buffer): void {
      const raw = reply.raw
      if (raw.writableLength > maxBufferedBytes && endedBy === 'client') {
        request.log.warn({ buffered: raw.writableLength }, 'event stream closed: its client left EVENTS_MAX_BUFFERED_BYTES unread')
        end('slow')
        return
      }
      raw.write(text)
    }
    const remove = streams.add({ identity, end, reidentify: () => identify(request) as Identity })
    const release = keepFresh.hold()
    const visible = readsProfile(identity) ? () => true : (event: FeedEvent<ChangeEventData>) => event.class === 'balance'
    const unsubscribe = feed.subscribe((event) => { if (visible(event)) write(changeFrame(event)) })
    let unexpire: (() => void) | undefined
    reply.sse.onClose(() => {
      unsubscribe()
      unexpire?.()
      release()
      remove()
      metrics.eventStreamsClosed.inc({ reason: endedBy })
    })
    reply.sse.keepAlive()
    reply.sse.sendHeaders()
    const lastEventId = request.headers['last-event-id']
    const resume = typeof lastEventId === 'string' ? feed.since(lastEventId) : { kind: 'snapshot' as const }
    write(frame({ retry: RETRY_MS }))
    if (resume.kind === 'snapshot') write(snapshot(identity))
    else for (const event of resume.events) if (visible(event)) write(changeFrame(event))
    // A bearer token's stream ends when the token does; any stream at once if the replica began to shut down
    // while this handler waited.
    if (closing) end('shutdown')
    else if (identity.kind === 'jwt') unexpire = atTime(identity.expiresAt, () => { end('expired') })
  }

  const security = SCOPES.flatMap((scope): Array<Record<string, string[]>> => app.bearer ? [{ apiKey: [scope] }, { bearer: [scope] }] : [{ apiKey: [scope] }])
  // No preconditions on a stream: no 412.
  const { 412: _preconditions, ...errors } = apiErrorResponses()
  // Every other method, HEAD included (a HEAD must not open a stream): counted like any request, then 405.
  // Registered before GET, so that Fastify adds no HEAD route of its own.
  app.route({
    method: app.supportedMethods.filter((method) => !['GET', 'OPTIONS'].includes(method)),
    url: URL,
    // OPTIONS stays with CORS preflights; the not-found handler answers it otherwise, with the same Allow.
    config: { allow: 'GET' },
    ...guard(),
    schema: { hide: true },
    handler: () => { throw problem('method_not_allowed', `This method is not supported on ${URL}; use GET.`, { allow: 'GET' }) }
  })
  app.route({
    method: 'GET',
    url: URL,
    ...guard(SCOPES),
    // Negotiated here, so that a refusal is a problem+json like every other.
    sse: 'manual',
    schema: {
      operationId: 'streamProfileEvents',
      tags: ['events'],
      summary: 'Changes to the profile and balance, as they are detected (Server-Sent Events)',
      description: DESCRIPTION,
      security,
      headers: Type.Object({
        'last-event-id': Type.Optional(Type.String({ maxLength: 64, description: 'The id of the last event received: the stream resumes after it (EventSource sends it when it reconnects)' })),
        'x-request-id': Type.Optional(Type.String({ description: 'Your request id (1–128 of A–Z a–z 0–9 . _ : -), echoed back and logged; otherwise a UUID is made' }))
      }),
      response: {
        200: {
          description: 'An event stream (text/event-stream): `snapshot`, then `billing`, `contact` and `balance` events, and `end` when the service ends it; `data` is JSON',
          headers: STREAM_HEADERS,
          content: {
            'text/event-stream': {
              schema: Type.Union([
                Type.Object({ event: Type.Literal('snapshot'), id: Type.String(), data: SnapshotEvent }),
                Type.Object({ event: Type.Literal('balance'), id: Type.String(), data: BalanceEvent }),
                Type.Object({ event: Type.Literal('billing'), id: Type.String(), data: BillingEvent }),
                Type.Object({ event: Type.Literal('contact'), id: Type.String(), data: ContactEvent }),
                Type.Object({ event: Type.Literal('end'), data: EndEvent })
              ], { description: 'One message of the stream: its `event` field, `id` and JSON `data`' })
            }
          }
        },
        ...errors,
        400: problemResponse('The request has query parameters, or a Last-Event-ID that is too long', ['bad_request']),
        406: problemResponse('The Accept header refuses text/event-stream', ['not_acceptable']),
        429: problemResponse('The caller\'s requests for this minute are spent, or it has EVENTS_MAX_STREAMS_PER_CALLER streams open already', ['rate_limited']),
        503: problemResponse('Vobiz is rate-limiting this service, the service is overloaded, or this replica holds EVENTS_MAX_STREAMS streams already; see Retry-After', ['upstream_rate_limited', 'service_unavailable'])
      }
    },
    handler: stream
  })
}

export default eventRoutes
