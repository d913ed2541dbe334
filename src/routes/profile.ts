import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { NotCachedError, type CacheEntry, type GetOptions } from '../cache/freshness-cache.ts'
import { freshnessHeaders, hitHeaders, matchesIfMatch, matchesIfNoneMatch, requestDirective } from '../http/cache-headers.ts'
import { rejectQuery, routeGuard } from '../http/guard.ts'
import { problem } from '../http/problems.ts'
import { ATTR, inSpan, tracer } from '../observability/tracing.ts'
import { HIT, metricLabels, type Outcome } from '../outcome.ts'
import type { ProfileSnapshot, Representation, View } from '../profile-snapshot.ts'
import { Balance, BALANCE_EXAMPLE, Profile, PROFILE_EXAMPLE } from '../schemas/profile.ts'
import { apiErrorResponses, NOT_MODIFIED, okResponse, withoutContent } from '../schemas/responses.ts'

export interface ProfileRoutesOptions {
  /** The clock the cache uses, for Age. */
  now: () => number
}

const JSON_TYPE = 'application/json; charset=utf-8'

/** What the cache answered one request with, for the slow path's headers and metrics. */
interface Answer {
  view: View
  entry: CacheEntry<ProfileSnapshot>
  outcome: Outcome
  /** A forced refresh was asked for, but the caller's refresh budget was spent. */
  refreshRefused: boolean
}

const profileRoutes: FastifyPluginAsyncTypebox<ProfileRoutesOptions> = async (app, { now }) => {
  const { profiles: cache, metrics, limiters, bearer, traced } = app
  const ROUTES = { profile: '/profile', balance: '/profile/balance' } as const
  // Counters for the hit path, bound once.
  const hits = {
    profile: metrics.cacheOutcomes.labels({ route: ROUTES.profile, outcome: 'hit', detail: '' }),
    balance: metrics.cacheOutcomes.labels({ route: ROUTES.balance, outcome: 'hit', detail: '' })
  }

  // A plain hit's headers (content type included) are built once per representation and second.
  const hitHeadersOf = { profile: hitHeaders(cache.freshness('profile').ttlMs, JSON_TYPE), balance: hitHeaders(cache.freshness('balance').ttlMs, JSON_TYPE) }

  /** The cache span's attributes: the outcome, how old the data is and how long it stays fresh. */
  function cacheAttributes (view: View, outcome: Outcome, ageMs: number) {
    const { outcome: name, detail } = metricLabels(outcome)
    return {
      [ATTR.view]: view,
      [ATTR.cacheOutcome]: name,
      ...(detail === '' ? {} : { [ATTR.cacheDetail]: detail }),
      [ATTR.cacheAge]: ageMs / 1000,
      [ATTR.cacheTtl]: (cache.freshness(view).ttlMs - ageMs) / 1000
    }
  }

  /** A plain hit, the hot path: bound counter, headers built once per representation and second. */
  function writeHit (view: View, entry: CacheEntry<ProfileSnapshot>, request: FastifyRequest, reply: FastifyReply): void {
    hits[view].inc()
    const representation = entry.value.views[view]
    reply.headers(hitHeadersOf[view](representation.etag, now() - entry.fetchedAt))
    send(representation, request, reply)
  }

  /** Any other answer: its outcome's metric labels and Cache-Status. */
  function write ({ view, entry, outcome, refreshRefused }: Answer, request: FastifyRequest, reply: FastifyReply): void {
    metrics.cacheOutcomes.inc({ route: ROUTES[view], ...metricLabels(outcome) })
    if (refreshRefused) metrics.refreshRefused.inc({ route: ROUTES[view] })
    const representation = entry.value.views[view]
    reply.headers(freshnessHeaders(outcome, representation.etag, now() - entry.fetchedAt, cache.freshness(view).ttlMs, refreshRefused)).type(JSON_TYPE)
    send(representation, request, reply)
  }

  /** The body, or 304 / 412 by the request's preconditions. */
  function send (representation: Representation, request: FastifyRequest, reply: FastifyReply): void {
    // RFC 9110 §13.2.2: If-Match first (412 when false), then If-None-Match (304 when it matches).
    const ifMatch = request.headers['if-match']
    if (ifMatch !== undefined && !matchesIfMatch(ifMatch, representation.etag)) {
      throw problem('precondition_failed', `If-Match does not name the current representation (its ETag is ${representation.etag}).`)
    }
    if (matchesIfNoneMatch(request.headers['if-none-match'], representation.etag)) {
      // RFC 9110 §15.4.5: a 304 has no content, so no Content-Type (nor Content-Length) either.
      reply.removeHeader('content-type').code(304).send()
    } else {
      reply.send(representation.body)
    }
  }

  /**
   * Cache → representation → headers. Bodies were serialized once, when the data was fetched; a hit is
   * answered synchronously, anything else waits for the (shared) upstream fetch.
   */
  function serve (view: View, request: FastifyRequest, reply: FastifyReply): void {
    rejectQuery(request)
    const directive = requestDirective(request.headers['cache-control'])
    if (directive === undefined) {
      const hit = cache.fresh(view)
      if (hit !== undefined) {
        // Traced, a hit is a span too (it took no time, and says so); untraced, it costs nothing.
        if (traced) tracer.startSpan('profile cache', { attributes: cacheAttributes(view, HIT, now() - hit.fetchedAt) }).end()
        writeHit(view, hit, request, reply)
        return
      }
    }
    answer(view, directive, request, reply).catch((err: unknown) => {
      reply.send(err instanceof NotCachedError ? problem('not_cached', 'Nothing usable is cached, and only-if-cached forbids asking Vobiz.') : err)
    })
  }

  /** Anything but a plain hit: a fetch, a stale answer, only-if-cached, or a refresh the caller's budget allows. */
  async function answer (view: View, directive: ReturnType<typeof requestDirective>, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const options: GetOptions = { requestId: request.id }
    let refreshRefused = false
    if (directive === 'only-if-cached') {
      options.onlyIfCached = true
    } else if (directive === 'refresh') {
      options.refresh = await limiters.allowRefresh(request)
      refreshRefused = !options.refresh
    }
    const { entry, outcome } = await inSpan('profile cache', {}, async (span) => {
      const result = await cache.get(view, options)
      if (span.isRecording()) span.setAttributes(cacheAttributes(view, result.outcome, now() - result.entry.fetchedAt))
      return result
    })
    write({ view, entry, outcome, refreshRefused }, request, reply)
  }

  const guard = routeGuard(app)

  const routes = [
    {
      view: 'profile' as const,
      scopes: ['profile:read'] as const,
      name: 'Profile',
      summary: 'The partner profile',
      description: 'The Vobiz partner profile, normalised: permanent partner id (capture it once), contact, balance, ' +
        'GSTIN / GST status, TDS settings, account status and timestamps. Fresh for PROFILE_TTL_SECONDS (default 30). ' +
        'Send `Cache-Control: no-cache` for data fetched from Vobiz after your request arrived.',
      ok: okResponse(Profile, 'The partner profile', PROFILE_EXAMPLE)
    },
    {
      view: 'balance' as const,
      scopes: ['profile:read', 'balance:read'] as const,
      name: 'Balance',
      summary: 'The partner balance and how fresh it is',
      description: 'Balance, currency and `as_of`, the time the figure was requested from Vobiz. Fresh for ' +
        'BALANCE_TTL_SECONDS (default 5); before a balance transfer, send `Cache-Control: no-cache` to get a figure ' +
        'fetched after your request arrived.',
      ok: okResponse(Balance, 'The partner balance', BALANCE_EXAMPLE)
    }
  ]
  // Methods the API does not serve, answered 405 after identification and rate limiting (OPTIONS stays with
  // CORS preflights, and the not-found handler answers it otherwise).
  const otherMethods = app.supportedMethods.filter((method) => !['GET', 'HEAD', 'OPTIONS'].includes(method))
  for (const route of routes) {
    const url = ROUTES[route.view]
    // The schemes this configuration accepts: bearer tokens only when JWTs are configured.
    const security = route.scopes.flatMap((scope): Array<Record<string, string[]>> => bearer ? [{ apiKey: [scope] }, { bearer: [scope] }] : [{ apiKey: [scope] }])
    const handler = (request: FastifyRequest, reply: FastifyReply): void => { serve(route.view, request, reply) }
    // GET and HEAD are declared one by one (not left to exposeHeadRoutes) so the spec has both operations,
    // and a HEAD answer has the same headers as GET's, 304 included.
    for (const method of ['HEAD', 'GET'] as const) { // HEAD first: Fastify then adds no HEAD of its own
      app.route({
        method,
        url,
        ...guard(route.scopes),
        // @fastify/swagger leaves HEAD routes out unless asked, and names them `<operationId>-head`.
        config: { swagger: { exposeHeadRoute: true } },
        schema: {
          operationId: `get${route.name}`,
          tags: ['profile'],
          summary: method === 'GET' ? route.summary : `${route.summary}: headers only`,
          description: method === 'GET' ? route.description : `As GET ${url}, without the body: check freshness, ETag and rate limits cheaply.`,
          security,
          response: {
            200: method === 'GET' ? route.ok : withoutContent(route.ok),
            304: NOT_MODIFIED,
            ...(method === 'GET' ? apiErrorResponses() : Object.fromEntries(Object.entries(apiErrorResponses()).map(([status, response]) => [status, withoutContent(response)])))
          }
        },
        handler
      })
    }
    app.route({
      method: otherMethods,
      url,
      // Counted like any other request, then 405.
      ...guard(),
      schema: { hide: true },
      handler: () => { throw problem('method_not_allowed', `This method is not supported on ${url}; use GET or HEAD.`, { allow: 'GET, HEAD' }) }
    })
  }
}

export default profileRoutes
