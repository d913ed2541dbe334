import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import Type from 'typebox'
import { HIT, type CacheEntry, type CacheOutcome, type ProfileCache } from '../cache/profile-cache.ts'
import { freshnessHeaders, matchesIfNoneMatch, wantsRefresh } from '../http/cache-headers.ts'
import { authorize } from '../http/identity.ts'
import type { Limiters } from '../http/rate-limit.ts'
import type { ProfileSnapshot, View } from '../profile-snapshot.ts'
import { Balance, BALANCE_EXAMPLE, Profile, PROFILE_EXAMPLE } from '../schemas/profile.ts'
import { apiErrorResponses, NOT_MODIFIED, okResponse } from '../schemas/responses.ts'

export interface ProfileRoutesOptions {
  cache: ProfileCache<ProfileSnapshot, View>
  /** Works out request.identity (API key or JWT); never rejects. */
  identify: onRequestHookHandler
  limiters: Limiters
}

const JSON_TYPE = 'application/json; charset=utf-8'

/** The API takes no query parameters: unknown ones are a 400, not silently ignored. */
const NO_QUERY = Type.Object({}, { additionalProperties: false })

const profileRoutes: FastifyPluginAsyncTypebox<ProfileRoutesOptions> = async (app, { cache, identify, limiters }) => {
  function write (view: View, entry: CacheEntry<ProfileSnapshot>, outcome: CacheOutcome, refused: boolean, request: FastifyRequest, reply: FastifyReply): void {
    const representation = entry.value.views[view]
    reply.headers(freshnessHeaders(outcome, representation.etag, Date.now() - entry.fetchedAt, cache.freshnessMs(view), refused))
    if (matchesIfNoneMatch(request.headers['if-none-match'], representation.etag)) {
      reply.code(304).send()
    } else {
      reply.type(JSON_TYPE).send(representation.body)
    }
  }

  /**
   * Cache → representation → headers. Bodies were serialized once, when the data was fetched; a hit is
   * answered synchronously, anything else waits for the (shared) upstream fetch.
   */
  function serve (view: View, request: FastifyRequest, reply: FastifyReply): void {
    if (wantsRefresh(request.headers['cache-control'])) {
      refresh(view, request, reply).catch((err: unknown) => reply.send(err))
      return
    }
    const hit = cache.fresh(view)
    if (hit !== undefined) {
      write(view, hit, HIT, false, request, reply)
      return
    }
    cache.get(view)
      .then(({ entry, outcome }) => write(view, entry, outcome, false, request, reply))
      .catch((err: unknown) => reply.send(err))
  }

  /** A forced refresh, if the caller's refresh budget allows; otherwise the cached answer, saying so. */
  async function refresh (view: View, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const allowed = await limiters.allowRefresh(request)
    const { entry, outcome } = await cache.get(view, allowed)
    write(view, entry, outcome, !allowed, request, reply)
  }

  const guard = (scopes: Parameters<typeof authorize>[0]) => ({
    onRequest: [identify, limiters.enforce],
    preHandler: authorize(scopes)
  })

  app.get('/profile', {
    ...guard(['profile:read']),
    schema: {
      querystring: NO_QUERY,
      operationId: 'getProfile',
      tags: ['profile'],
      summary: 'The partner profile',
      description: 'The Vobiz partner profile, normalised: permanent partner id (capture it once), contact, balance, ' +
        'GSTIN / GST status, TDS settings, account status and timestamps. Fresh for PROFILE_TTL_SECONDS (default 30). ' +
        'Send `Cache-Control: no-cache` for data fetched from Vobiz after your request arrived.',
      security: [{ apiKey: ['profile:read'] }, { bearer: ['profile:read'] }],
      response: {
        200: okResponse(Profile, 'The partner profile', PROFILE_EXAMPLE),
        304: NOT_MODIFIED,
        ...apiErrorResponses()
      }
    }
  }, (request, reply) => { serve('profile', request, reply) })

  app.get('/profile/balance', {
    ...guard(['profile:read', 'balance:read']),
    schema: {
      querystring: NO_QUERY,
      operationId: 'getBalance',
      tags: ['profile'],
      summary: 'The partner balance and how fresh it is',
      description: 'Balance, currency and `as_of`, the time the figure was requested from Vobiz. Fresh for ' +
        'BALANCE_TTL_SECONDS (default 5); before a balance transfer, send `Cache-Control: no-cache` to get a figure ' +
        'fetched after your request arrived.',
      security: [{ apiKey: ['profile:read'] }, { apiKey: ['balance:read'] }, { bearer: ['profile:read'] }, { bearer: ['balance:read'] }],
      response: {
        200: okResponse(Balance, 'The partner balance', BALANCE_EXAMPLE),
        304: NOT_MODIFIED,
        ...apiErrorResponses()
      }
    }
  }, (request, reply) => { serve('balance', request, reply) })
}

export default profileRoutes
