import type { Redis } from 'ioredis'
import type { ChangeClass } from '../changes/detector.ts'
import { detectChanges } from '../changes/detector.ts'
import { eventData } from '../changes/events.ts'
import { isAfter, MemoryFeed, type Feed, type FeedEvent, type Resume } from '../changes/feed.ts'
import type { Observed } from '../changes/tracker.ts'
import type { Log } from '../observability/log.ts'
import type { ChangeEventData } from '../schemas/events.ts'
import type { Profile } from '../schemas/profile.ts'
import { snapshotData } from '../changes/events.ts'
import type { DropReport } from '../webhooks/queue.ts'
import type { RedisLink } from './link.ts'
import { RESYNC_FUNCTION, type StreamRecord, type WebhookKeyPart } from './webhook-queue.ts'
import { messageOf } from '../caught.ts'

/** Lua: creates the floor (KEYS[key]) if there is none, just before now, so that no id from before the stream can be resumed from. */
const initFloor = (key: number): string => `
if redis.call('EXISTS', KEYS[${key}]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[${key}], (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1) .. '-0')
end`

/**
 * Compares a fetch with the fleet's baseline and publishes what changed, once for the whole fleet: the
 * baseline moves only if it is still the one the changes were computed against (otherwise the caller reads
 * it again), and never back to an older fetch. Each change goes into the change stream (its id is the
 * fleet-wide event id) and into the delivery queue of each endpoint subscribed to its class, in one step.
 * The stream keeps the last ARGV[5] changes; the newest one trimmed is the floor a resume must not be older
 * than (created just before the first change, so that no id from before the stream can be resumed from).
 * With no baseline at all (a first start, or Redis emptied), nobody can tell what changed since the last
 * one: every endpoint is queued a snapshot. A full queue drops its oldest (a queued snapshot is dropped too
 * if it is the oldest, and not counted) and gets a snapshot after them. A disabled endpoint is queued nothing.
 *
 * KEYS: baseline, stream, floor, then for each configured endpoint 1..n its queue, state and snapshot
 * marker. ARGV: the baseline's fetchedAt the changes were computed against ('' for none), the new baseline,
 * its fetchedAt, the changes ([{c: stream entry, d: delivery, q: [endpoint numbers]}]), history,
 * WEBHOOKS_QUEUE_MAX, the snapshot's delivery, n. Returns 'stale', 'moved', or per endpoint the changes its
 * queue dropped (negative: none queued for it).
 */
const PUBLISH = `${RESYNC_FUNCTION}
local base = redis.call('GET', KEYS[1])
local at = tonumber(ARGV[3])
if base then
  local seen = cjson.decode(base).fetchedAt
  if at <= seen then return 'stale' end
  if ARGV[1] == '' or tonumber(ARGV[1]) ~= seen then return 'moved' end
elseif ARGV[1] ~= '' then return 'moved' end
redis.call('SET', KEYS[1], ARGV[2])
local changes = cjson.decode(ARGV[4])
if base and #changes == 0 then return {} end
local n = tonumber(ARGV[8])
local function key (e, part) return KEYS[3 + 3 * (e - 1) + part] end
local dropped = {}
for e = 1, n do
  local state = redis.call('GET', key(e, 2))
  dropped[e] = (state and cjson.decode(state).disabled) and -2 or -1
  if not base and dropped[e] == -1 then resync(key(e, 1), key(e, 3), ARGV[7]) end
end
if #changes == 0 then return dropped end
${initFloor(3)}
local max = tonumber(ARGV[6])
for _, change in ipairs(changes) do
  local id = redis.call('XADD', KEYS[2], '*', 'c', change.c)
  for _, e in ipairs(change.q) do
    if dropped[e] ~= -2 then
      if dropped[e] == -1 then dropped[e] = 0 end
      local queue, marker = key(e, 1), key(e, 3)
      local snapshot = redis.call('GET', marker)
      while redis.call('XLEN', queue) - (snapshot and 1 or 0) >= max do
        local oldest = redis.call('XRANGE', queue, '-', '+', 'COUNT', 1)[1][1]
        redis.call('XDEL', queue, oldest)
        if oldest == snapshot then
          redis.call('DEL', marker)
          snapshot = false
        else
          dropped[e] = dropped[e] + 1
        end
      end
      redis.call('XADD', queue, '*', 'd', '{"id":"' .. id .. '",' .. string.sub(change.d, 2))
    end
  end
end
for e = 1, n do
  if dropped[e] > 0 then resync(key(e, 1), key(e, 3), ARGV[7]) end
end
local excess = redis.call('XLEN', KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
  local trimmed = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', excess)
  redis.call('SET', KEYS[3], trimmed[#trimmed][1])
  redis.call('XTRIM', KEYS[2], 'MAXLEN', ARGV[5])
end
return dropped`

/** The floor (created now if the stream has never had one) and every change kept after it. */
const READ = `
${initFloor(2)}
local floor = redis.call('GET', KEYS[2])
return { floor, redis.call('XRANGE', KEYS[1], '(' .. floor, '+') }`

/** A change as the stream keeps it: what subscribers receive, and the profile as of it (for snapshots). */
interface StreamEntry {
  class: ChangeClass
  data: ChangeEventData
  fetchedAt: number
  profile: Profile
}

export interface ChangeStreamOptions {
  link: RedisLink
  prefix: string
  /** EVENTS_HISTORY. */
  capacity: number
  thresholds: readonly number[]
  /** Every endpoint (WEBHOOKS_FILE, now), and those subscribed to a class. */
  endpoints: () => string[]
  routes: (cls: ChangeClass) => string[]
  /** The Redis keys of an endpoint's delivery queue. */
  queueKey: (endpoint: string, part: WebhookKeyPart) => string
  /** WEBHOOKS_QUEUE_MAX. */
  queueMax: number
  /** Told each change this replica published (for metrics). */
  onChange: (cls: ChangeClass) => void
  /** Told of deliveries dropped from full queues, and of queues that had room. */
  drops: DropReport
  log: Log
  now: () => number
}

/** How long one blocking read waits for new changes before it asks again. */
const BLOCK_MS = 5000
/** After Redis failed, how long before the reader tries again. */
const RETRY_MS = 1000

/**
 * The fleet's changes, with REDIS_URL. Every replica reports its loads (`observe`); the first to publish a
 * fetch against the baseline wins, so each change is published once whichever replica fetched. Each replica
 * follows the stream (a blocking read on a connection of its own) into a local copy of the last
 * EVENTS_HISTORY changes, which its SSE subscribers follow and resume from: ids are the stream's, the same on
 * every replica. While Redis is unusable nothing is published; the baseline still holds the last published
 * state, so a change made meanwhile is published by the first fetch after Redis is back.
 */
export class ChangeStream implements Feed<ChangeEventData> {
  readonly #options: ChangeStreamOptions
  readonly #keys: { baseline: string, stream: string, floor: string }
  readonly #listeners = new Set<(event: FeedEvent<ChangeEventData>) => void>()
  #window: MemoryFeed<ChangeEventData>
  /** The newest profile seen: this replica's latest load, or the newest change's. */
  #latest: Observed | undefined
  /** Publishing is one at a time, in the order of the loads. */
  #publishing: Promise<void> = Promise.resolve()
  #reader: Redis | undefined
  #stopped = false
  #synced = false
  #following: Promise<void> | undefined
  #settle!: () => void
  /** Settles after the first read of the stream, or once Redis proved unusable at the first try. */
  readonly ready = new Promise<void>((resolve) => { this.#settle = resolve })

  constructor (options: ChangeStreamOptions) {
    this.#options = options
    const { prefix } = options
    this.#keys = { baseline: `${prefix}changes:baseline`, stream: `${prefix}changes:stream`, floor: `${prefix}changes:floor` }
    this.#window = new MemoryFeed({ capacity: options.capacity, now: options.now })
  }

  get latest (): Observed | undefined {
    return this.#latest
  }

  get lastId (): string {
    return this.#window.lastId
  }

  since (lastEventId: string): Resume<ChangeEventData> {
    return this.#window.since(lastEventId)
  }

  subscribe (listener: (event: FeedEvent<ChangeEventData>) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** A load's profile: kept as the latest if newer, and published against the fleet's baseline. */
  observe (profile: Profile, fetchedAt: number): void {
    if (this.#latest !== undefined && fetchedAt <= this.#latest.fetchedAt) return
    this.#latest = { profile, fetchedAt }
    this.#publishing = this.#publishing.then(async () => { await this.#publish(profile, fetchedAt) }).catch((err: unknown) => {
      this.#options.log.warn({ reason: messageOf(err) }, 'changes not published (Redis unusable); the next fetch after it is back compares with the last published state')
    })
  }

  /** Starts following the stream. */
  start (): void {
    this.#reader = this.#options.link.client.duplicate()
    this.#reader.on('error', () => {})
    this.#following = this.#follow(this.#reader)
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#reader?.disconnect()
    await this.#following
  }

  async #publish (profile: Profile, fetchedAt: number): Promise<void> {
    const { link, thresholds, routes, queueKey } = this.#options
    if (!link.usable) throw new Error('redis unavailable')
    // Another replica may move the baseline between the read and the write: then read it again (until this
    // fetch is published, or found older than the baseline).
    for (;;) {
      const raw = await link.command(async (redis) => await redis.get(this.#keys.baseline))
      const base = raw === null ? undefined : JSON.parse(raw) as Observed
      if (base !== undefined && base.fetchedAt >= fetchedAt) return
      const changes = base === undefined ? [] : detectChanges(base.profile, profile, thresholds)
      // KEYS 4 and on: three per endpoint.
      const endpoints = this.#options.endpoints()
      const entries = changes.map((change) => {
        const data = eventData(change, (base as Observed).profile, profile, fetchedAt)
        const q = routes(change.class).map((endpoint) => endpoints.indexOf(endpoint) + 1)
        const entry: StreamEntry = { class: change.class, data, fetchedAt, profile }
        return { c: JSON.stringify(entry), d: JSON.stringify({ class: change.class, data, detectedAt: fetchedAt }), q }
      })
      const snapshot = JSON.stringify({ class: 'snapshot', data: snapshotData(profile, fetchedAt), detectedAt: fetchedAt })
      const keys = endpoints.flatMap((endpoint) => (['queue', 'state', 'snapshot'] as const).map((part) => queueKey(endpoint, part)))
      const result = await link.command(async (redis) => await redis.eval(PUBLISH, 3 + keys.length, this.#keys.baseline, this.#keys.stream, this.#keys.floor, ...keys,
        base === undefined ? '' : String(base.fetchedAt), JSON.stringify({ profile, fetchedAt }), String(fetchedAt), JSON.stringify(entries), String(this.#options.capacity),
        String(this.#options.queueMax), snapshot, String(endpoints.length)))
      if (result === 'moved') continue
      if (Array.isArray(result)) {
        if (base === undefined && endpoints.length > 0) this.#options.log.info({ endpoints }, 'no baseline in Redis (a first start, or Redis was emptied): a snapshot is queued to every webhook endpoint')
        for (const change of changes) this.#options.onChange(change.class)
        for (const [i, dropped] of (result as number[]).entries()) {
          const endpoint = endpoints[i] as string
          if (dropped > 0) this.#options.drops.dropped(endpoint, dropped)
          else if (dropped === 0) this.#options.drops.room(endpoint)
        }
      }
      return
    }
  }

  async #follow (reader: Redis): Promise<void> {
    await reader.connect().catch(() => {})
    while (!this.#stopped) {
      try {
        if (!this.#synced) await this.#sync(reader)
        const read = await reader.xread('COUNT', 1000, 'BLOCK', BLOCK_MS, 'STREAMS', this.#keys.stream, this.#window.lastId) as Array<[string, StreamRecord[]]> | null
        // One stream asked for: one answer, with its records.
        if (read !== null) this.#add((read[0] as [string, StreamRecord[]])[1])
      } catch {
        // Redis went away (or the stream was deleted under us): read everything again once it is back.
        // Meanwhile resumes are judged against what this replica holds (a snapshot, mostly).
        this.#settle()
        this.#synced = false
        if (!this.#stopped) await new Promise((resolve) => setTimeout(resolve, RETRY_MS).unref())
      }
    }
  }

  /** Reads the floor and the changes kept after it into a new local copy, telling subscribers what they had not been told. */
  async #sync (reader: Redis): Promise<void> {
    const [floor, records] = await reader.eval(READ, 2, this.#keys.stream, this.#keys.floor) as [string, StreamRecord[]]
    const told = this.#window.lastId
    this.#window = new MemoryFeed({ capacity: this.#options.capacity, now: this.#options.now, start: floor })
    this.#synced = true
    this.#add(records, told)
    this.#settle()
  }

  /**
   * Adds records to the local copy, and tells subscribers those after `told` (the last they were told of). The
   * first read may find changes published before this replica's reader connected; after a gap longer than
   * the history (Redis gone that long) some are no longer in the stream, and the streams go on with what is.
   */
  #add (records: StreamRecord[], told = this.#window.lastId): void {
    const events = records.flatMap((record) => parseRecord(record))
    this.#window.add(events)
    for (const event of events) if (isAfter(event.id, told)) this.#tell(event)
  }

  #tell (event: FeedEvent<ChangeEventData> & { profile: Profile }): void {
    const { profile, ...published } = event
    if (this.#latest === undefined || event.fetchedAt > this.#latest.fetchedAt) this.#latest = { profile, fetchedAt: event.fetchedAt }
    for (const listener of this.#listeners) listener(published)
  }
}

/** A stream record as a feed event (with the profile as of it), or nothing for one this version cannot read. */
function parseRecord ([id, fields]: StreamRecord): Array<FeedEvent<ChangeEventData> & { profile: Profile }> {
  try {
    const entry = JSON.parse(fields[1] as string) as StreamEntry
    return [{ id, class: entry.class, data: entry.data, fetchedAt: entry.fetchedAt, profile: entry.profile }]
  } catch {
    return []
  }
}
