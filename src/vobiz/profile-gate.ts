import type { Log } from '../observability/log.ts'
import { ReportedSets } from '../observability/reported-sets.ts'
import type { Profile } from '../schemas/profile.ts'
import { UpstreamError } from './errors.ts'
import { normalizeProfile } from './profile.ts'
import { withholdSecrets, type SecretCheck } from './withhold-secrets.ts'

/** Why a field Vobiz sent was left out: its value was unusable, or it held a configured secret. */
export type WithheldReason = 'unusable' | 'secret'

export interface ProfileGateOptions {
  /** The log's secret filter: the same secrets, including those added by reloads. */
  secrets: SecretCheck
  /** The Vobiz auth ID the service starts with (more are added by credential reloads). */
  authId?: string | undefined
  logger: Log
  /** Called once per field withheld, on every fetch (for the metric). */
  count: (field: string, reason: WithheldReason) => void
}

/**
 * Where every value a consumer receives is made: Vobiz's answer is normalised (normalizeProfile), then any
 * field holding a configured secret is withheld (withholdSecrets). What was left out is counted on every
 * fetch, and logged once while the same fields keep being left out — again when the set changes, and once
 * when it is empty again — never with a value.
 */
export class ProfileGate {
  readonly #options: ProfileGateOptions
  readonly #ownIds = new Set<string>()
  readonly #reported = new ReportedSets()

  constructor (options: ProfileGateOptions) {
    this.#options = options
    if (options.authId !== undefined) this.#ownIds.add(options.authId)
  }

  /** A rotated Vobiz auth ID: later answers may carry it as their id. The old ones stay accepted. */
  addAuthId (authId: string): void {
    this.#ownIds.add(authId)
  }

  /** Vobiz's 200 body → the profile consumers may receive, or an UpstreamError (`upstream_invalid_response`). */
  parse = (raw: unknown): Profile => {
    const { profile: normalized, dropped } = normalizeProfile(raw)
    const { profile, withheld } = withholdSecrets(normalized, this.#options.secrets, this.#ownIds)
    this.#report('unusable', dropped)
    this.#report('secret', withheld)
    if (profile === undefined) {
      throw new UpstreamError('upstream_invalid_response', 'partner profile id holds a configured secret (the answer is refused; value hidden)')
    }
    return profile
  }

  #report (reason: WithheldReason, fields: readonly string[]): void {
    const { logger, count } = this.#options
    for (const field of fields) count(field, reason)
    const change = this.#reported.update(reason, fields)
    if (change === 'same') return
    if (reason === 'unusable') {
      if (change === 'new') logger.warn({ dropped: fields }, 'vobiz profile fields with unusable values were omitted (logged again when the set changes)')
      else logger.info('vobiz profile fields with unusable values: none any more')
    } else {
      if (change === 'new') logger.error({ withheld: fields }, 'vobiz profile fields holding a configured secret were withheld from consumers (logged again when the set changes)')
      else logger.info('vobiz profile fields holding a configured secret: none any more')
    }
  }
}
