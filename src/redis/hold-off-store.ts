import Type from 'typebox'
import { Value } from 'typebox/value'
import { CLEAR, type HoldOffState, type HoldOffStore } from '../vobiz/hold-off.ts'
import type { RedisLink } from './link.ts'

/** The record as stored; checked on the way back in (a replica of another version may have written it). */
const Stored = Type.Object({ failures: Type.Integer({ minimum: 0 }), openUntil: Type.Number(), coolingDownUntil: Type.Number() })

/** The failure count is forgotten this long after the last deadline in it without a fetch. */
const FORGET_AFTER_MS = 3_600_000

/**
 * The breaker and cool-down state shared by the fleet (one key, `<prefix>profile:hold-off`), so that failures
 * seen by different replicas add up and a 429 seen by one holds off all. Only the replica holding the fetch
 * lock fetches, so writes do not race. While Redis is unusable, reads answer the last state this replica read
 * or wrote, and writes change only that.
 */
export class SharedHoldOffStore implements HoldOffStore {
  readonly #link: RedisLink
  readonly #key: string
  readonly #now: () => number
  #last: HoldOffState = CLEAR

  constructor (link: RedisLink, prefix: string, now: () => number) {
    this.#link = link
    this.#key = `${prefix}profile:hold-off`
    this.#now = now
  }

  async read (): Promise<HoldOffState> {
    if (!this.#link.usable) return this.#last
    try {
      const raw = await this.#link.bounded(this.#link.client.get(this.#key))
      this.#last = parseHoldOff(raw) ?? CLEAR
    } catch (err) {
      this.#link.failed(err)
    }
    return this.#last
  }

  async write (state: HoldOffState): Promise<void> {
    this.#last = state
    if (!this.#link.usable) return
    const { client } = this.#link
    const now = this.#now()
    const until = Math.max(state.openUntil, state.coolingDownUntil, now)
    const idle = state.failures === 0 && until === now
    try {
      if (idle) await this.#link.bounded(client.del(this.#key))
      else await this.#link.bounded(client.set(this.#key, JSON.stringify(state), 'PX', Math.ceil(until - now) + FORGET_AFTER_MS))
    } catch (err) {
      this.#link.failed(err)
    }
  }
}

export function parseHoldOff (raw: string | null): HoldOffState | undefined {
  if (raw === null) return undefined
  try {
    const parsed: unknown = JSON.parse(raw)
    return Value.Check(Stored, parsed) ? parsed : undefined
  } catch {
    return undefined
  }
}
