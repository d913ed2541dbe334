import type { ChangeClass } from '../changes/detector.ts'
import { wants, type Subscription } from './subscriptions.ts'

/** The webhook subscriptions now (WEBHOOKS_FILE, swapped whole on reload), by name. */
export class SubscriptionRegistry {
  #byName = new Map<string, Subscription>()

  constructor (subscriptions: readonly Subscription[]) {
    this.replace(subscriptions)
  }

  get names (): string[] {
    return [...this.#byName.keys()]
  }

  get (name: string): Subscription | undefined {
    return this.#byName.get(name)
  }

  replace (subscriptions: readonly Subscription[]): void {
    this.#byName = new Map(subscriptions.map((subscription) => [subscription.name, subscription]))
  }

  /** The endpoints a change of class `cls` is delivered to. */
  routes (cls: ChangeClass): string[] {
    return [...this.#byName.values()].filter((subscription) => wants(subscription, cls)).map((subscription) => subscription.name)
  }
}
