/** What became of a set of names since it was last seen: `new` (appeared or changed), `same`, or `cleared` (now empty). */
export type SetChange = 'new' | 'same' | 'cleared'

/**
 * Keeps a condition seen on every poll (say, the fields Vobiz keeps sending unusable values for) from writing
 * a line each time: the set of names last seen under each kind is remembered, so a caller logs it when it
 * appears or changes, and once more when it is empty again. Order does not matter; names only, never values.
 */
export class ReportedSets {
  readonly #last = new Map<string, string>()

  update (kind: string, names: readonly string[]): SetChange {
    const key = [...new Set(names)].sort().join('\n')
    const last = this.#last.get(kind) ?? ''
    if (key === last) return 'same'
    this.#last.set(kind, key)
    return key === '' ? 'cleared' : 'new'
  }
}
