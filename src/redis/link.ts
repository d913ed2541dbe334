import { Redis } from 'ioredis'
import type { Logger } from 'pino'

/** `connected`: commands are sent; `unavailable`: every caller uses its local fallback until Redis is back. */
export type RedisState = 'connected' | 'unavailable'

export interface RedisLinkOptions {
  url: string
  /** Longest one command may take before it fails (and the caller falls back). */
  timeoutMs: number
  logger: Logger
  /** Called on every state change (for metrics). */
  onState?: (state: RedisState) => void
}

/** Reconnect delay: 50 ms, growing to at most 1 s, forever. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 1000)

/**
 * The service's connection to Redis, and whether to use it right now.
 *
 * Every command is bounded (`commandTimeout`), and nothing queues while the connection is down
 * (`enableOfflineQueue: false`): a caller asks `usable` first, and whoever sees a command fail calls
 * `failed()` and uses its local state instead. A timed-out command drops the connection, so that requests
 * stop paying the timeout at once and ioredis reconnects by itself. State changes are logged once each.
 */
export class RedisLink {
  readonly client: Redis
  readonly #logger: Logger
  readonly #onState: ((state: RedisState) => void) | undefined
  #state: RedisState = 'unavailable'
  #since = Date.now()
  #closing = false

  constructor (options: RedisLinkOptions) {
    this.#logger = options.logger
    this.#onState = options.onState
    this.client = new Redis(options.url, {
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1000, options.timeoutMs),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: reconnectDelay,
      // A command sent on a connection that then dropped is failed, not replayed later.
      autoResendUnfulfilledCommands: false,
      lazyConnect: true
    })
    this.client.on('ready', () => { this.#set('connected') })
    this.client.on('close', () => { this.#set('unavailable') })
    // ioredis reports every failed reconnect as an 'error'; the state change was logged already.
    this.client.on('error', (err: Error) => { this.#set('unavailable', err) })
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

  /** A command failed: log the state change; after a timeout, drop the connection and reconnect. */
  failed (err: unknown): void {
    if (err instanceof Error && /timed out/i.test(err.message) && this.client.status === 'ready') {
      this.client.disconnect(true)
    }
    this.#set('unavailable', err)
  }

  async close (): Promise<void> {
    this.#closing = true
    this.client.disconnect()
  }

  #set (state: RedisState, err?: unknown): void {
    if (state === this.#state || this.#closing) return
    this.#state = state
    this.#since = Date.now()
    this.#onState?.(state)
    if (state === 'connected') {
      this.#logger.info({ redis: state }, 'redis connected: rate limits, cache and upstream fetches are shared')
    } else {
      // The message only: ioredis errors can carry the failed command's arguments (AUTH's password among them).
      const reason = err instanceof Error ? err.message : 'connection closed'
      this.#logger.error({ redis: state, reason }, 'redis unavailable: using local rate limits and the local cache until it is back')
    }
  }
}
