import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HIT, type CacheEntry, type CacheOutcome, type ProfileCache } from '../cache/profile-cache.ts'
import type { ConsumerRegistry } from '../consumers.ts'
import { authorize } from '../http/auth.ts'
import { freshnessHeaders, matchesIfNoneMatch, wantsRefresh } from '../http/cache-headers.ts'
import type { ProfileSnapshot, View } from '../profile-snapshot.ts'
import { Balance, BALANCE_EXAMPLE, Profile, PROFILE_EXAMPLE } from '../schemas/profile.ts'
import { NOT_MODIFIED, okResponse, upstreamAndAuthResponses } from '../schemas/responses.ts'

export interface ProfileRoutesOptions {
  cache: ProfileCache<ProfileSnapshot, View>
  consumers: ConsumerRegistry
}

const JSON_TYPE = 'application/json; charset=utf-8'

const profileRoutes: FastifyPluginAsyncTypebox<ProfileRoutesOptions> = async (app, { cache, consumers }) => {
  function write (view: View, entry: CacheEntry<ProfileSnapshot>, outcome: CacheOutcome, request: FastifyRequest, reply: FastifyReply): void {
    const representation = entry.value.views[view]
    reply.headers(freshnessHeaders(outcome, representation.etag, Date.now() - entry.fetchedAt, cache.freshnessMs(view)))
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
    const refresh = wantsRefresh(request.headers['cache-control'])
    const hit = refresh ? undefined : cache.fresh(view)
    if (hit !== undefined) {
      write(view, hit, HIT, request, reply)
      return
    }
    cache.get(view, refresh)
      .then(({ entry, outcome }) => write(view, entry, outcome, request, reply))
      .catch((err: unknown) => reply.send(err))
  }

  app.get('/profile', {
    onRequest: authorize(consumers, ['profile:read']),
    schema: {
      operationId: 'getProfile',
      tags: ['profile'],
      summary: 'The partner profile',
      description: 'The Vobiz partner profile, normalised: permanent partner id (capture it once), contact, balance, ' +
        'GSTIN / GST status, TDS settings, account status and timestamps. Fresh for PROFILE_TTL_SECONDS (default 30). ' +
        'Send `Cache-Control: no-cache` for data fetched from Vobiz after your request arrived.',
      security: [{ apiKey: ['profile:read'] }],
      response: {
        200: okResponse(Profile, 'The partner profile', PROFILE_EXAMPLE),
        304: NOT_MODIFIED,
        ...upstreamAndAuthResponses()
      }
    }
  }, (request, reply) => { serve('profile', request, reply) })

  app.get('/profile/balance', {
    onRequest: authorize(consumers, ['profile:read', 'balance:read']),
    schema: {
      operationId: 'getBalance',
      tags: ['profile'],
      summary: 'The partner balance and how fresh it is',
      description: 'Balance, currency and `as_of`, the time the figure was requested from Vobiz. Fresh for ' +
        'BALANCE_TTL_SECONDS (default 5); before a balance transfer, send `Cache-Control: no-cache` to get a figure ' +
        'fetched after your request arrived.',
      security: [{ apiKey: ['profile:read'] }, { apiKey: ['balance:read'] }],
      response: {
        200: okResponse(Balance, 'The partner balance', BALANCE_EXAMPLE),
        304: NOT_MODIFIED,
        ...upstreamAndAuthResponses()
      }
    }
  }, (request, reply) => { serve('balance', request, reply) })
}

export default profileRoutes
