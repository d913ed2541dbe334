import type { DestinationStream } from 'pino'

/** The parts of sonic-boom (pino.destination) the sink uses: its 'write' event reports bytes flushed, 'drop' lines it refused. */
export interface AsyncDestination extends DestinationStream {
  on: (event: 'write' | 'drop', listener: (arg: never) => void) => unknown
}

export interface LogSinkOptions {
  destination: DestinationStream
  /**
   * With an asynchronous destination, the most bytes held waiting for it; past half of it access lines are
   * dropped, past all of it every line. Undefined: a synchronous destination (tests), nothing is held.
   */
  maxBufferBytes?: number
}

/**
 * Where log lines go. An asynchronous destination buffers what it cannot write yet; when its reader stalls
 * (a hung log shipper on the other end of a pipe), that buffer would grow without bound. The sink keeps
 * count of the bytes written but not yet flushed, and drops lines instead of buffering past the limit:
 * access lines first (at half the limit), then everything. Dropped lines are counted (`dropped`) and, once
 * the destination has caught up, reported in one line.
 */
export class LogSink {
  readonly #destination: DestinationStream
  readonly #max: number
  #pending = 0
  #unreported = 0
  /** Lines dropped since start. */
  dropped = 0
  /** Called once the destination has caught up after dropping, with the number of lines lost meanwhile. */
  onRecovered: ((dropped: number) => void) | undefined

  constructor (options: LogSinkOptions) {
    this.#destination = options.destination
    this.#max = options.maxBufferBytes ?? Infinity
    if (options.maxBufferBytes === undefined) return
    const destination = options.destination as AsyncDestination
    destination.on('write', (bytes: number) => {
      this.#pending = Math.max(0, this.#pending - bytes)
      if (this.#unreported > 0 && this.#pending <= this.#max / 4) {
        const dropped = this.#unreported
        this.#unreported = 0
        this.onRecovered?.(dropped)
      }
    })
    // The destination's own cap (the same limit) refused a line: it is not pending, and it is lost.
    destination.on('drop', (line: string) => {
      this.#pending = Math.max(0, this.#pending - Buffer.byteLength(line))
      this.#lost()
    })
  }

  /** Bytes handed to the destination and not yet written by it. */
  get pending (): number {
    return this.#pending
  }

  /** A line that matters (errors, upstream and lifecycle events): dropped only when the whole buffer is full. */
  write (line: string): void {
    this.#admit(line, this.#max)
  }

  /** An access line: the first to go, once half the buffer is waiting. */
  writeAccess (line: string): void {
    this.#admit(line, this.#max / 2)
  }

  #admit (line: string, limit: number): void {
    if (this.#max !== Infinity) {
      const bytes = Buffer.byteLength(line)
      if (this.#pending + bytes > limit) {
        this.#lost()
        return
      }
      this.#pending += bytes
    }
    this.#destination.write(line)
  }

  #lost (): void {
    this.dropped += 1
    this.#unreported += 1
  }
}
