import { fastifySSE } from '@fastify/sse'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import Type from 'typebox'
import type { FeedEvent } from '../changes/feed.ts'
import { hasAnyScope } from '../consumers.ts'
import { rejectQuery, routeGuard } from '../http/guard.ts'
import type { Identity } from '../http/identity.ts'
import { problem } from '../http/problems.ts'
import { balanceOf } from '../profile-snapshot.ts'
import { BalanceEvent, BillingEvent, ContactEvent, SnapshotEvent, type ChangeEventData } from '../schemas/events.ts'
import { apiErrorResponses, problemResponse } from '../schemas/responses.ts'

export interface EventRoutesOptions {
  /** EVENTS_HEARTBEAT_SECONDS, in ms. */
  heartbeatMs: number
  /** EVENTS_MAX_STREAMS_PER_CALLER. */
  maxStreamsPerCaller: number
  /** EVENTS_MAX_BUFFERED_BYTES. */
  maxBufferedBytes: number
}

const URL = '/profile/events'
/** How soon a client reconnects after the stream ends (the `retry:` field): a drained replica's clients go to another one. */
const RETRY_MS = 1000

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
function readsProfile (identity: Identity): boolean {
  return identity.kind !== 'anonymous' && hasAnyScope(identity, ['profile:read'])
}

const DESCRIPTION = [
  'Server-Sent Events: the current state first (`event: snapshot`), then one event per change the service detects between',
  'two Vobiz fetches — `billing` (GSTIN, GST status, TDS, account type, status), `contact` (name, email, phone, company)',
  'and `balance` (any change, with the `BALANCE_THRESHOLDS` crossed). While a stream is open the service keeps the',
  'profile fresh itself, one Vobiz fetch per balance freshness period at most, for every stream together.',
  '',
  'Each event\'s `id` orders it; reconnect with `Last-Event-ID` to get what you missed (or a `snapshot` when that is no',
  'longer kept). Comment lines (`: heartbeat`) keep idle streams open. Callers with only `balance:read` get balance',
  'events and a snapshot without the profile. Browsers: `EventSource` cannot send headers, so use a fetch-based client',
  'with `X-API-Key` or `Authorization` (see docs/api.md).'
].join(' ')

const eventRoutes: FastifyPluginAsyncTypebox<EventRoutesOptions> = async (app, { heartbeatMs, maxStreamsPerCaller, maxBufferedBytes }) => {
  const { profiles: cache, changes: { feed, tracker, keepFresh }, metrics } = app
  // Every stream is sent the same event object: serialised once per event, not once per subscriber.
  const serialized = new WeakMap<object, string>()
  const serializer = (data: object): string => {
    let text = serialized.get(data)
    if (text === undefined) {
      text = JSON.stringify(data)
      serialized.set(data, text)
    }
    return text
  }
  await app.register(fastifySSE, { heartbeatInterval: heartbeatMs, serializer })
  const guard = routeGuard(app)
  /** Open streams per caller (the rate limiter's key), and every open stream, for the drain. */
  const perCaller = new Map<string, number>()
  const open = new Set<FastifyReply>()
  metrics.watch({ eventStreams: () => open.size })

  // Shutdown: every stream ends with a short retry hint, so its client reconnects to another replica.
  app.addHook('preClose', (done) => {
    for (const reply of open) {
      reply.sse.send({ retry: RETRY_MS, data: undefined }).catch(() => {}).finally(() => { reply.sse.close() })
    }
    done()
  })

  function snapshot (identity: Identity, lastId: string): { id: string, event: 'snapshot', data: unknown } {
    const latest = tracker.latest
    /* c8 ignore next */
    if (latest === undefined) throw problem('internal_error', 'No profile has been fetched yet.')
    const balance = balanceOf(latest.profile, latest.fetchedAt)
    return { id: lastId, event: 'snapshot', data: readsProfile(identity) ? { balance, profile: { ...latest.profile, as_of: balance.as_of } } : { balance } }
  }

  async function stream (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    rejectQuery(request)
    if (!acceptsEventStream(request.headers.accept)) throw problem('not_acceptable', 'This route only produces text/event-stream.')
    // Nothing to tell before the profile has been fetched once: this fetch's failure is the answer's.
    if (tracker.latest === undefined) await cache.get('balance', { requestId: request.id })
    // Counted after that wait, so that streams opened together are counted together.
    const { identity } = request
    const streams = perCaller.get(identity.rateKey) ?? 0
    if (streams >= maxStreamsPerCaller) {
      throw problem('rate_limited', `This caller already has ${streams} open event streams (EVENTS_MAX_STREAMS_PER_CALLER); close one first.`, { 'retry-after': '5' })
    }

    perCaller.set(identity.rateKey, streams + 1)
    open.add(reply)
    const release = keepFresh.hold()
    const visible = readsProfile(identity) ? () => true : (event: FeedEvent<ChangeEventData>) => event.class === 'balance'
    // A message is written at once (the promise only waits for the socket to drain): in order, and a stream
    // that has closed just drops it. A client that does not read cannot make the process hold its messages:
    // past EVENTS_MAX_BUFFERED_BYTES unread, its stream is closed (it reconnects and resumes, or gets a snapshot).
    const write = (message: { id?: string, event?: string, data: unknown, retry?: number }): void => {
      if (reply.raw.writableLength > maxBufferedBytes && !reply.raw.writableEnded) {
        metrics.slowStreamsClosed.inc()
        request.log.warn({ buffered: reply.raw.writableLength }, 'event stream closed: its client left EVENTS_MAX_BUFFERED_BYTES unread')
        reply.sse.close()
        return
      }
      reply.sse.send(message).catch(() => {})
    }
    // From here to the last initial message nothing waits, so no change can slip in between.
    const unsubscribe = feed.subscribe((event) => { if (visible(event)) write({ id: event.id, event: event.class, data: event.data }) })
    reply.sse.onClose(() => {
      unsubscribe()
      release()
      open.delete(reply)
      const left = (perCaller.get(identity.rateKey) as number) - 1
      if (left === 0) perCaller.delete(identity.rateKey)
      else perCaller.set(identity.rateKey, left)
    })
    reply.sse.keepAlive()
    const lastEventId = request.headers['last-event-id']
    const resume = typeof lastEventId === 'string' ? feed.since(lastEventId) : { kind: 'snapshot' as const }
    write({ retry: RETRY_MS, data: undefined })
    if (resume.kind === 'snapshot') write(snapshot(identity, feed.lastId))
    else for (const event of resume.events) if (visible(event)) write({ id: event.id, event: event.class, data: event.data })
  }

  const security = ['profile:read', 'balance:read'].flatMap((scope): Array<Record<string, string[]>> => app.bearer ? [{ apiKey: [scope] }, { bearer: [scope] }] : [{ apiKey: [scope] }])
  // No preconditions on a stream: no 412.
  const { 412: _preconditions, ...errors } = apiErrorResponses()
  app.route({
    method: 'GET',
    url: URL,
    ...guard(['profile:read', 'balance:read']),
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
          description: 'An event stream (text/event-stream): `snapshot`, then `billing`, `contact` and `balance` events; `data` is JSON',
          content: {
            'text/event-stream': {
              schema: Type.Union([
                Type.Object({ event: Type.Literal('snapshot'), id: Type.String(), data: SnapshotEvent }),
                Type.Object({ event: Type.Literal('balance'), id: Type.String(), data: BalanceEvent }),
                Type.Object({ event: Type.Literal('billing'), id: Type.String(), data: BillingEvent }),
                Type.Object({ event: Type.Literal('contact'), id: Type.String(), data: ContactEvent })
              ], { description: 'One message of the stream: its `event` field, `id` and JSON `data`' })
            }
          }
        },
        ...errors,
        400: problemResponse('The request has query parameters, or a Last-Event-ID that is too long', ['bad_request']),
        406: problemResponse('The Accept header refuses text/event-stream', ['not_acceptable']),
        429: problemResponse('The caller\'s requests for this minute are spent, or it has EVENTS_MAX_STREAMS_PER_CALLER streams open already', ['rate_limited'])
      }
    },
    handler: stream
  })
}

export default eventRoutes
