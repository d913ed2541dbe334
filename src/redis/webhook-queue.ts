import { HEALTHY, type Delivery, type EndpointState, type Resync, type WebhookQueue } from '../webhooks/queue.ts'
import { Lease } from './lease.ts'
import type { RedisLink } from './link.ts'

/** An endpoint's key parts: the stream its deliveries are queued in, its retry state, its deliverer's lease, the id of its queued snapshot. */
export type WebhookKeyPart = 'queue' | 'state' | 'lease' | 'snapshot'

/** An endpoint's keys (see WebhookKeyPart). */
export const webhookKey = (prefix: string, endpoint: string, part: WebhookKeyPart = 'queue'): string => `${prefix}webhooks:${endpoint}:${part}`

/** A Redis stream entry as ioredis returns it: its id and its field/value list. */
export type StreamRecord = [id: string, fields: string[]]

/**
 * Lua, shared with the publishing script: `resync(queue, marker, d)` queues a snapshot (`d`, its delivery)
 * at the tail of `queue`, unless the one whose entry id `marker` holds is still queued.
 */
export const RESYNC_FUNCTION = `
local function resync (queue, marker, d)
  local queued = redis.call('GET', marker)
  if queued and #redis.call('XRANGE', queue, queued, queued) > 0 then return 0 end
  redis.call('SET', marker, redis.call('XADD', queue, '*', 'd', d))
  return 1
end`

const RESYNC = `${RESYNC_FUNCTION}
return resync(KEYS[1], KEYS[2], ARGV[1])`

/** Removes the head (KEYS[1]) if it is the delivery ARGV[1] (a change's id is in its `d`, a snapshot's is its entry's), and forgets it as the queued snapshot (KEYS[2]). */
const REMOVE = `
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if not first then return 0 end
if (cjson.decode(first[2][2]).id or first[1]) ~= ARGV[1] then return 0 end
redis.call('XDEL', KEYS[1], first[1])
if redis.call('GET', KEYS[2]) == first[1] then redis.call('DEL', KEYS[2]) end
return 1`

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
 * (src/redis/change-stream.ts, in the same step), its retry state (a disabled endpoint's too, so that it
 * stays disabled across restarts), the id of its queued snapshot, and a lease. Only the lease holder
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

  key (endpoint: string, part: WebhookKeyPart = 'queue'): string {
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
    // A change carries its feed id; a snapshot (or a change queued by an earlier version) is known by its entry's.
    return { id, ...JSON.parse(fields[1] as string) as Omit<Delivery, 'id'> & { id?: string } }
  }

  async remove (endpoint: string, id: string): Promise<void> {
    await this.#options.link.command(async (redis) => await redis.eval(REMOVE, 2, this.key(endpoint), this.key(endpoint, 'snapshot'), id))
  }

  async resync (endpoint: string, { data, detectedAt }: Resync): Promise<void> {
    const d = JSON.stringify({ class: 'snapshot', data, detectedAt })
    await this.#options.link.command(async (redis) => await redis.eval(RESYNC, 2, this.key(endpoint), this.key(endpoint, 'snapshot'), d))
  }

  async clear (endpoint: string): Promise<void> {
    await this.#options.link.command(async (redis) => await redis.del(this.key(endpoint), this.key(endpoint, 'snapshot')))
  }

  async state (endpoint: string): Promise<EndpointState> {
    const raw = await this.#options.link.command(async (redis) => await redis.get(this.key(endpoint, 'state')))
    return raw === null ? HEALTHY : JSON.parse(raw) as EndpointState
  }

  async setState (endpoint: string, state: EndpointState): Promise<void> {
    const healthy = state.failures === 0 && state.disabled === undefined
    await this.#options.link.command(async (redis) => healthy ? await redis.del(this.key(endpoint, 'state')) : await redis.set(this.key(endpoint, 'state'), JSON.stringify(state)))
  }

  async stats (endpoint: string): Promise<{ depth: number, oldestAt: number | undefined }> {
    const depth = await this.#options.link.command(async (redis) => await redis.xlen(this.key(endpoint)))
    return { depth, oldestAt: depth === 0 ? undefined : (await this.head(endpoint))?.detectedAt }
  }
}
