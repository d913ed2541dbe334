import type { Profile } from '../schemas/profile.ts'

/** What a change is about: who receives it (scopes, webhook subscriptions) depends on it. */
export const CHANGE_CLASSES = ['billing', 'contact', 'balance'] as const
export type ChangeClass = typeof CHANGE_CLASSES[number]

/** The profile fields of each class; `balance` also covers `currency`. */
export const CHANGE_FIELDS: Readonly<Record<ChangeClass, ReadonlyArray<keyof Profile>>> = {
  balance: ['balance', 'currency'],
  billing: ['gstin', 'gst_status', 'tds_applicable', 'tds_percentage', 'account_type', 'status'],
  contact: ['name', 'email', 'phone', 'company']
}

/** A configured balance threshold the balance went past, and which way. */
export interface Crossing {
  threshold: number
  direction: 'below' | 'above'
}

export interface Change {
  class: ChangeClass
  /** The fields of the class that differ (a field that appeared or went away counts). */
  fields: Array<keyof Profile>
  /** For `balance`: the thresholds crossed between the two fetches, highest first. */
  crossings: Crossing[]
}

/**
 * What changed between two fetches of the profile, by class, in a fixed order (billing, contact, balance).
 * A threshold is crossed when the balance goes from at or above it to below it, or back: a balance that stays
 * on one side crosses nothing, however often it changes.
 */
export function detectChanges (previous: Profile, next: Profile, thresholds: readonly number[]): Change[] {
  const changes: Change[] = []
  for (const cls of CHANGE_CLASSES) {
    const fields = CHANGE_FIELDS[cls].filter((field) => previous[field] !== next[field])
    if (fields.length === 0) continue
    const crossings = cls === 'balance' ? crossingsBetween(previous.balance, next.balance, thresholds) : []
    changes.push({ class: cls, fields, crossings })
  }
  return changes
}

function crossingsBetween (before: number, after: number, thresholds: readonly number[]): Crossing[] {
  return [...thresholds].sort((a, b) => b - a).flatMap((threshold): Crossing[] => {
    if (before >= threshold && after < threshold) return [{ threshold, direction: 'below' }]
    if (before < threshold && after >= threshold) return [{ threshold, direction: 'above' }]
    return []
  })
}
