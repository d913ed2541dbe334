import { Redis, ReplyError } from 'ioredis'
import type { Log as Logger } from '../observability/log.ts'

export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError'
}

/** `connected`: commands are sent; `unavailable`: every caller uses its local fallback until Redis is back. */
import type { RedisState } from './state.ts'
import { messageOf } from '../caught.ts'

export type { RedisState }

export interface RedisLinkOptions {
  url: string
  /** Longest one command may take before it fails (and the caller falls back). */
  timeoutMs: number
  logger: Logger
}

/** Distinct error replies logged per connection object (they repeat per request otherwise). */
const MAX_REPLY_ERRORS_LOGGED = 20

/** Reconnect delay: 50 ms, growing to at most 1 s, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 1000)

/**
 * The service's connection to Redis, and whether to use it right now.
 *
 * Every command is bounded (`bounded()`), and nothing queues while the connection is down
 * (`enableOfflineQueue: false`): a caller asks `usable` first, and whoever sees a command fail calls
 * `failed()` and uses its local state instead. A timed-out command drops the connection, so that requests
 * stop paying the timeout at once and ioredis reconnects by itself. State changes are logged once each.
 */
export class RedisLink {
  readonly client: Redis
  readonly #logger: Logger
  readonly #replyErrors = new Set<string>()
  readonly #timeoutMs: number
  #state: RedisState = 'unavailable'
  /** False until the first connection or failure, so that either is logged. */
  #announced = false
  #since = Date.now()
  #closing = false

  constructor (options: RedisLinkOptions) {
    this.#logger = options.logger
    this.#timeoutMs = options.timeoutMs
    this.client = new Redis(options.url, {
      connectTimeout: Math.max(1000, options.timeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: reconnectDelay,
      // A command sent on a connection that then dropped is failed, not replayed later.
      autoResendUnfulfilledCommands: false,
      lazyConnect: true
    })
    this.client.on('ready', () => { this.#set('connected') })
    this.client.on('close', () => { this.#set('unavailable', 'connection closed') })
    // ioredis reports every failed reconnect as an 'error'; only the state change is logged.
    this.client.on('error', (err: Error) => { this.#set('unavailable', err.message) })
  }

  /** Connects, waiting at most `waitMs` for the first connection; the service starts either way. */
  async connect (waitMs: number): Promise<void> {
    const ready = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs)
      this.client.once('ready', () => { clearTimeout(timer); resolve() })
    })
    this.client.connect().catch(() => {})
    await ready
  }

  get state (): RedisState {
    return this.#state
  }

  /** Since when (ms since epoch) the link has been in its state. */
  get since (): number {
    return this.#since
  }

  /** True when commands can be sent now. */
  get usable (): boolean {
    return this.client.status === 'ready'
  }

  /**
   * `command`, or a RedisTimeoutError after `timeoutMs`. The timeout is decided after the event loop's next
   * I/O phase (setImmediate), so a reply that arrived while the loop was busy elsewhere still counts: a
   * stalled process must not mistake its own stall for Redis failing.
   */
  async bounded<R> (command: Promise<R>): Promise<R> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => setImmediate(() => { reject(new RedisTimeoutError(`redis command timed out after ${this.#timeoutMs} ms`)) }), this.#timeoutMs)
    })
    try {
      return await Promise.race([command, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** `run` on the client, bounded; a failure is reported (`failed()`) and rethrown. */
  async command<R> (run: (client: Redis) => Promise<R>): Promise<R> {
    try {
      return await this.bounded(run(this.client))
    } catch (err) {
      this.failed(err)
      throw err
    }
  }

  /**
   * A command failed. Redis refusing it (an error reply: a key of the wrong type, out of memory) leaves the
   * connection up and is logged once per message; a timeout drops the connection so that requests stop
   * waiting on it, and ioredis reconnects.
   */
  failed (err: unknown): void {
    const message = messageOf(err)
    if (err instanceof ReplyError) {
      if (this.#replyErrors.size < MAX_REPLY_ERRORS_LOGGED && !this.#replyErrors.has(message)) {
        this.#replyErrors.add(message)
        this.#logger.warn({ redis: this.state, reason: message }, 'redis refused a command; this operation used local state')
      }
      return
    }
    if (this.client.status === 'ready') this.client.disconnect(true)
    this.#set('unavailable', message)
  }

  async close (): Promise<void> {
    this.#closing = true
    this.client.disconnect()
  }

  /** `reason` is an error's message only: ioredis errors can carry the command's arguments (AUTH's password among them). */
  #set (state: RedisState, reason?: string): void {
    if ((state === this.#state && this.#announced) || this.#closing) return
    this.#announced = true
    this.#state = state
    this.#since = Date.now()
    if (state === 'connected') {
      this.#logger.info({ redis: state }, 'redis connected: rate limits, cache and upstream fetches are shared')
    } else {
      this.#logger.error({ redis: state, reason }, 'redis unavailable: using local rate limits and the local cache until it is back')
    }
  }
}
