import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { HIT, type CacheEntry, type CacheOutcome, type ProfileCache } from '../cache/profile-cache.ts'
import type { ConsumerRegistry } from '../consumers.ts'
import { authorize } from '../http/auth.ts'
import { freshnessHeaders, matchesIfNoneMatch, wantsRefresh } from '../http/cache-headers.ts'
import type { ProfileSnapshot, View } from '../profile-snapshot.ts'
import { Problem } from '../schemas/problem.ts'
import { Balance, Profile } from '../schemas/profile.ts'

export interface ProfileRoutesOptions {
  cache: ProfileCache<ProfileSnapshot, View>
  consumers: ConsumerRegistry
}

const JSON_TYPE = 'application/json; charset=utf-8'

function errorResponses () {
  return { 401: Problem, 403: Problem, 502: Problem, 503: Problem, 504: Problem }
}

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
      summary: 'The partner profile',
      response: { 200: Profile, ...errorResponses() }
    }
  }, (request, reply) => { serve('profile', request, reply) })

  app.get('/profile/balance', {
    onRequest: authorize(consumers, ['profile:read', 'balance:read']),
    schema: {
      summary: 'The partner balance and how fresh it is',
      response: { 200: Balance, ...errorResponses() }
    }
  }, (request, reply) => { serve('balance', request, reply) })
}

export default profileRoutes
