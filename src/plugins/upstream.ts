import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { secondsToMs, type Clock } from '../clock.ts'
import { Value } from 'typebox/value'
import { EnvSchema, vobizCredentials, type Config } from '../config.ts'
import type { SecretFilter } from '../observability/secret-filter.ts'
import { secretOf } from '../secret-files.ts'
import { ReloadRefused } from './file-reloads.ts'
import type { Profile } from '../schemas/profile.ts'
import { VobizClient } from '../vobiz/client.ts'
import { UpstreamError } from '../vobiz/errors.ts'
import { ProfileGate } from '../vobiz/profile-gate.ts'
import { ResilientUpstream } from '../vobiz/upstream.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Vobiz: one fetch of the partner profile, with retries, the breaker and the cool-down. */
    upstream: ResilientUpstream<Profile>
  }
}

export interface UpstreamPluginOptions {
  config: Config
  clock: Clock
  /** The log's secret filter, told rotated credentials; it also keeps them out of every profile served. */
  secrets: Pick<SecretFilter, 'add' | 'contains'>
}

/**
 * With VOBIZ_AUTH_ID_FILE / VOBIZ_AUTH_TOKEN_FILE, new credentials are taken from the files when they change
 * (and on SIGHUP): both validated first, then used from the next attempt, while an attempt in flight finishes
 * with the old ones. A rotation needs no restart.
 */
function reloadCredentials (app: FastifyInstance, config: Config, client: VobizClient, secrets: UpstreamPluginOptions['secrets'], gate: ProfileGate, initial: { authId: string, authToken: string }): void {
  const files = { authId: config.VOBIZ_AUTH_ID_FILE, authToken: config.VOBIZ_AUTH_TOKEN_FILE }
  const watched = (Object.keys(files) as Array<keyof typeof files>).filter((part) => files[part] !== undefined)
  if (watched.length === 0) return
  const log = app.log.child({ component: 'reload' })
  const names = { authId: 'VOBIZ_AUTH_ID', authToken: 'VOBIZ_AUTH_TOKEN' } as const
  let current = initial
  app.fileReloads.watch('vobiz credentials', watched.map((part) => files[part] as string), (contents) => {
    const next = { ...current }
    for (const [i, part] of watched.entries()) next[part] = secretOf(contents[i] as string)
    const invalid = watched.filter((part) => !Value.Check(EnvSchema.properties[names[part]], next[part]) || next[part] === '').map((part) => `${names[part]}_FILE: not a usable ${names[part]} (value hidden)`)
    if (invalid.length > 0) throw new ReloadRefused(invalid.join('; '))
    const changed = watched.filter((part) => next[part] !== current[part]).map((part) => names[part])
    if (changed.length === 0) return
    secrets.add([next.authId, next.authToken])
    gate.addAuthId(next.authId)
    client.setCredentials(next)
    current = next
    log.info({ changed }, 'vobiz credentials reloaded: the next fetch uses them')
  })
}

/** Where the operator set the credentials: each variable, or its file (with the path) when that is used. */
export function credentialsSource (config: Pick<Config, 'VOBIZ_AUTH_ID_FILE' | 'VOBIZ_AUTH_TOKEN_FILE'>): string {
  const source = (name: string, file: string | undefined): string => file === undefined ? name : `${name}_FILE (${file})`
  return `${source('VOBIZ_AUTH_ID', config.VOBIZ_AUTH_ID_FILE)} / ${source('VOBIZ_AUTH_TOKEN', config.VOBIZ_AUTH_TOKEN_FILE)}`
}

/** Without credentials nothing is sent to Vobiz: every fetch fails as a credentials failure would. */
const withoutCredentials: Pick<VobizClient, 'attempt' | 'close'> = {
  attempt: async () => { throw new UpstreamError('upstream_auth_failed', 'no Vobiz credentials are configured (VOBIZ_AUTH_ID / VOBIZ_AUTH_TOKEN)') },
  close: async () => {}
}

/**
 * The Vobiz client (undici, one attempt) behind retries, deadline, breaker and cool-down, then the gate every
 * consumer-facing value passes: the normaliser, and the check that no field holds a configured secret.
 */
async function upstream (app: FastifyInstance, { config, clock, secrets }: UpstreamPluginOptions): Promise<void> {
  const logger = app.log.child({ component: 'vobiz' })
  const credentials = vobizCredentials(config)
  const gate = new ProfileGate({ secrets, authId: credentials?.authId, logger, count: (field, reason) => { app.metrics.fieldsWithheld.inc({ field, reason }) } })
  let client: Pick<VobizClient, 'attempt' | 'close'> = withoutCredentials
  if (credentials !== undefined) {
    const vobiz = new VobizClient({
      baseUrl: config.VOBIZ_BASE_URL,
      ...credentials,
      attemptTimeoutMs: Math.min(config.UPSTREAM_ATTEMPT_TIMEOUT_MS, config.UPSTREAM_TIMEOUT_MS),
      maxBodyBytes: config.UPSTREAM_MAX_BODY_BYTES,
      maxRetryAfterSeconds: config.UPSTREAM_MAX_RETRY_AFTER_SECONDS
    })
    reloadCredentials(app, config, vobiz, secrets, gate, credentials)
    client = vobiz
  }
  const upstream = new ResilientUpstream<Profile>({
    client,
    parse: gate.parse,
    timeoutMs: config.UPSTREAM_TIMEOUT_MS,
    attemptTimeoutMs: config.UPSTREAM_ATTEMPT_TIMEOUT_MS,
    retries: config.UPSTREAM_RETRIES,
    breakerThreshold: config.BREAKER_FAILURE_THRESHOLD,
    breakerOpenMs: secondsToMs(config.BREAKER_OPEN_SECONDS),
    // With REDIS_URL the breaker and cool-down are the fleet's (docs/adr/0001-one-breaker.md).
    ...(app.fleet === null ? {} : { holdOffStore: app.fleet.holdOffStore }),
    logger,
    credentialsSource: credentialsSource(config),
    clock,
    observe: app.metrics.observeFetch
  })
  app.metrics.watch({ upstream: () => upstream.status, lastSuccessAt: () => upstream.status.lastSuccessAt })
  app.decorate('upstream', upstream)
  app.addHook('onClose', async () => { await client.close() })
}

export default fp(upstream, { name: 'upstream', fastify: '5.x', dependencies: ['metrics', 'fleet', 'file-reloads'] })
