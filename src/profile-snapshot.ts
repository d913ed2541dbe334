import { createHash } from 'node:crypto'
import type { Balance, Profile } from './schemas/profile.ts'

/** A response body serialized once per upstream fetch, with its strong ETag. */
export interface Representation {
  body: Buffer
  etag: string
}

export type View = 'profile' | 'balance'

/** What one upstream fetch yields: the profile and each route's ready-to-send representation. */
export interface ProfileSnapshot {
  profile: Profile
  views: Record<View, Representation>
}

function represent (value: Profile | Balance): Representation {
  const body = Buffer.from(JSON.stringify(value))
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`
  return { body, etag }
}

/** GET /profile/balance's body for a profile fetched at `fetchedAt`. */
export function balanceOf (profile: Profile, fetchedAt: number): Balance {
  return {
    partner_id: profile.id,
    balance: profile.balance,
    ...(profile.currency === undefined ? {} : { currency: profile.currency }),
    as_of: new Date(fetchedAt).toISOString()
  }
}

export function buildSnapshot (profile: Profile, fetchedAt: number): ProfileSnapshot {
  return { profile, views: { profile: represent(profile), balance: represent(balanceOf(profile, fetchedAt)) } }
}
