import { HEALTHY, type Delivery, type EndpointState, type WebhookQueue } from '../webhooks/queue.ts'
import { Lease } from './lease.ts'
import type { RedisLink } from './link.ts'

/** An endpoint's keys: the stream its changes are queued in, its retry state, its deliverer's lease. */
export const webhookKey = (prefix: string, endpoint: string, part: 'queue' | 'state' | 'lease' = 'queue'): string => `${prefix}webhooks:${endpoint}:${part}`

/** A Redis stream entry as ioredis returns it: its id and its field/value list. */
export type StreamRecord = [id: string, fields: string[]]

export interface RedisWebhookQueueOptions {
  link: RedisLink
  prefix: string
  /** This replica's lease token. */
  token: string
  /** How long an endpoint's lease lives without renewal: a dead deliverer's endpoint is taken over after it. */
  leaseMs: number
}

/**
 * The fleet's webhook queues: per endpoint, a Redis stream its changes are added to when they are published
 * (src/redis/change-stream.ts, in the same step), its retry state, and a lease. Only the lease holder
 * delivers; a change leaves the stream once delivered, so a replica that dies mid-delivery leaves it for the
 * next holder, which delivers it again with the same `webhook-id`. With Redis unusable nobody delivers (and
 * nothing is published) until it is back.
 */
export class RedisWebhookQueue implements WebhookQueue {
  readonly #options: RedisWebhookQueueOptions
  readonly #leases = new Map<string, Lease>()

  constructor (options: RedisWebhookQueueOptions) {
    this.#options = options
  }

  key (endpoint: string, part: 'queue' | 'state' | 'lease' = 'queue'): string {
    return webhookKey(this.#options.prefix, endpoint, part)
  }

  #lease (endpoint: string): Lease {
    let lease = this.#leases.get(endpoint)
    if (lease === undefined) {
      const { link, token, leaseMs } = this.#options
      lease = new Lease({ link, key: this.key(endpoint, 'lease'), ttlMs: leaseMs, token, withoutRedis: false })
      this.#leases.set(endpoint, lease)
    }
    return lease
  }

  async lead (endpoint: string): Promise<boolean> {
    return await this.#lease(endpoint).lead()
  }

  async resign (endpoint: string): Promise<void> {
    await this.#lease(endpoint).resign()
    this.#leases.delete(endpoint)
  }

  async head (endpoint: string): Promise<Delivery | undefined> {
    const [record] = await this.#options.link.command(async (redis) => await redis.xrange(this.key(endpoint), '-', '+', 'COUNT', 1) as StreamRecord[])
    if (record === undefined) return undefined
    const [id, fields] = record
    return { id, ...JSON.parse(fields[1] as string) as Omit<Delivery, 'id'> }
  }

  async remove (endpoint: string, id: string): Promise<void> {
    await this.#options.link.command(async (redis) => await redis.xdel(this.key(endpoint), id))
  }

  async state (endpoint: string): Promise<EndpointState> {
    const raw = await this.#options.link.command(async (redis) => await redis.get(this.key(endpoint, 'state')))
    return raw === null ? HEALTHY : JSON.parse(raw) as EndpointState
  }

  async setState (endpoint: string, state: EndpointState): Promise<void> {
    await this.#options.link.command(async (redis) => state.failures === 0 ? await redis.del(this.key(endpoint, 'state')) : await redis.set(this.key(endpoint, 'state'), JSON.stringify(state)))
  }

  async stats (endpoint: string): Promise<{ depth: number, oldestAt: number | undefined }> {
    const depth = await this.#options.link.command(async (redis) => await redis.xlen(this.key(endpoint)))
    return { depth, oldestAt: depth === 0 ? undefined : (await this.head(endpoint))?.detectedAt }
  }
}
