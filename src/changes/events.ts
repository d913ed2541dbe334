import type { BalanceEvent, ChangeEventData } from '../schemas/events.ts'
import type { Profile } from '../schemas/profile.ts'
import type { Change } from './detector.ts'

/** What subscribers receive for one change: the published shape of the route it concerns, as of the fetch. */
export function eventData (change: Change, previous: Profile, next: Profile, fetchedAt: number): ChangeEventData {
  const asOf = new Date(fetchedAt).toISOString()
  if (change.class === 'balance') {
    const data: BalanceEvent = {
      partner_id: next.id,
      balance: next.balance,
      ...(next.currency === undefined ? {} : { currency: next.currency }),
      as_of: asOf,
      previous_balance: previous.balance,
      changed: change.fields as BalanceEvent['changed'],
      crossed: change.crossings
    }
    return data
  }
  return { ...next, as_of: asOf, changed: change.fields } as ChangeEventData
}
