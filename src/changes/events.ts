import type { BalanceEvent, ChangeEventData } from '../schemas/events.ts'
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
