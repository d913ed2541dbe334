import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { CREDENTIALS_RETRY_MS, credentialsRejected } from '../readiness.ts'

/**
 * Once listening, the profile is fetched in the background, through the cache (so the first consumer gets a
 * hit, and in a fleet the shared copy counts). If Vobiz rejects the credentials before any success,
 * readiness answers 503 (src/readiness.ts) and the fetch is tried again every CREDENTIALS_RETRY_MS, so a
 * fixed secret makes the replica ready without a restart. Failures are logged by the upstream as usual.
 */
async function startupFetch (app: FastifyInstance): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  let closing = false
  const attempt = (): void => {
    timer = undefined
    app.profiles.get('profile').catch(() => {}).finally(() => {
      if (credentialsRejected(app.upstream.status) && !closing) timer = setTimeout(attempt, CREDENTIALS_RETRY_MS).unref()
    })
  }
  app.addHook('onListen', (done) => {
    attempt()
    done()
  })
  app.addHook('preClose', (done) => {
    closing = true
    clearTimeout(timer)
    done()
  })
}

export default fp(startupFetch, { name: 'startup-fetch', fastify: '5.x', dependencies: ['profiles', 'upstream'] })
