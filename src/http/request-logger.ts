import type { FastifyBaseLogger } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'

/**
 * A request's logger (Fastify's childLoggerFactory) that makes its pino child — with the `reqId` binding —
 * only when something logs through it. A pino child per request costs more than a cache hit's own work,
 * and most requests log nothing through theirs: the access line is written with the id by the access log.
 */
class LazyChildLogger {
  readonly #parent: FastifyBaseLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  #child: FastifyBaseLogger | undefined

  constructor (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
  }

  #logger (): FastifyBaseLogger {
    this.#child ??= this.#parent.child(this.#bindings, this.#options)
    return this.#child
  }

  get level (): string {
    return this.#logger().level
  }

  set level (level: string) {
    this.#logger().level = level
  }

  fatal (...args: Parameters<FastifyBaseLogger['fatal']>): void { this.#logger().fatal(...args) }
  error (...args: Parameters<FastifyBaseLogger['error']>): void { this.#logger().error(...args) }
  warn (...args: Parameters<FastifyBaseLogger['warn']>): void { this.#logger().warn(...args) }
  info (...args: Parameters<FastifyBaseLogger['info']>): void { this.#logger().info(...args) }
  debug (...args: Parameters<FastifyBaseLogger['debug']>): void { this.#logger().debug(...args) }
  trace (...args: Parameters<FastifyBaseLogger['trace']>): void { this.#logger().trace(...args) }
  silent (...args: Parameters<FastifyBaseLogger['silent']>): void { this.#logger().silent(...args) }

  child (bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, options)
  }
}

export function lazyChildLogger (parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(parent, bindings, options) as unknown as FastifyBaseLogger
}
