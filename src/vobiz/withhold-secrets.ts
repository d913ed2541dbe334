import type { Profile } from '../schemas/profile.ts'

/** What the check needs of the log's SecretFilter: the same set of secrets, reloads included. */
export interface SecretCheck {
  contains: (text: string) => boolean
}

export interface Withheld {
  /** The profile without the fields that held a secret; undefined when `id` held one (the answer is refused). */
  profile: Profile | undefined
  /** The fields withheld, in the published order. */
  withheld: Array<keyof Profile>
}

/**
 * The one rule for every byte a consumer can receive: bodies, ETags, events, webhook payloads and metric
 * labels are all made from the normalised profile, so a string field holding a configured secret (the Vobiz
 * credentials, consumer keys, the metrics token, webhook secrets, the Redis password; everything the log
 * filter knows) is withheld here, once, before anything is made of it.
 *
 * One exception: an `id` exactly equal to one of the service's Vobiz auth IDs (`ownIds`) is published. The
 * auth ID is the account's identifier, the public half of the credential, which some accounts use as their
 * partner id; it grants nothing without the token. Anywhere else (in free text, or inside a longer id) it is
 * withheld like any secret. An `id` that holds a secret is not dropped but refuses the whole answer, since
 * every body needs it.
 */
export function withholdSecrets (profile: Profile, secrets: SecretCheck, ownIds: ReadonlySet<string>): Withheld {
  const withheld = (Object.keys(profile) as Array<keyof Profile>).filter((key) => {
    const value = profile[key]
    if (typeof value !== 'string') return false
    if (key === 'id' && ownIds.has(value)) return false
    return secrets.contains(value)
  })
  if (withheld.length === 0) return { profile, withheld }
  if (withheld.includes('id')) return { profile: undefined, withheld }
  const kept = Object.fromEntries(Object.entries(profile).filter(([key]) => !withheld.includes(key as keyof Profile))) as Profile
  return { profile: kept, withheld }
}
