import type { BalanceEvent, ChangeEventData, SnapshotEvent } from '../schemas/events.ts'
import type { Profile } from '../schemas/profile.ts'
import { balanceOf } from '../profile-snapshot.ts'
import type { Change } from './detector.ts'

/** What subscribers receive for one change: the published shape of the route it concerns, as of the fetch. */
export function eventData (change: Change, previous: Profile, next: Profile, fetchedAt: number): ChangeEventData {
  if (change.class === 'balance') {
    const data: BalanceEvent = {
      ...balanceOf(next, fetchedAt),
      previous_balance: previous.balance,
      changed: change.fields as BalanceEvent['changed'],
      crossed: change.crossings
    }
    return data
  }
  return { ...next, as_of: new Date(fetchedAt).toISOString(), changed: change.fields } as ChangeEventData
}

/** The whole state as of a fetch, as SSE's `snapshot` event gives it to a caller that may read the profile. */
export function snapshotData (profile: Profile, fetchedAt: number): SnapshotEvent {
  const balance = balanceOf(profile, fetchedAt)
  return { balance, profile: { ...profile, as_of: balance.as_of } }
}
