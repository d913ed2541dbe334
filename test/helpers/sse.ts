import { request } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import type { Test } from 'tap'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { until } from './time.ts'

/**
 * An event-stream client: the response head, and the messages as a third-party parser (eventsource-parser,
 * what fetch-based EventSource clients use) reads them, with the `retry` hints and comments it saw.
 */
export interface EventStream {
  status: number
  headers: IncomingHttpHeaders
  /** The body as text when it was not a stream (a problem). */
  text: () => string
  events: EventSourceMessage[]
  retries: number[]
  comments: string[]
  /** Resolves once `count` events have arrived (60 s at most). */
  next: (count: number) => Promise<EventSourceMessage[]>
  /** Resolves when the server ends the stream. */
  ended: Promise<void>
  close: () => void
  /** Stops reading (the socket fills up, as with a client that hangs), and starts again. */
  pause: () => void
  resume: () => void
}

/** `headers` override the defaults (`Accept: text/event-stream`); an undefined value leaves the header out. */
export async function openEventStream (t: Test, url: string, headers: Record<string, string | undefined> = {}): Promise<EventStream> {
  const sent = Object.fromEntries(Object.entries({ accept: 'text/event-stream', ...headers }).filter((entry): entry is [string, string] => entry[1] !== undefined))
  return await new Promise((resolve, reject) => {
    const req = request(url, { headers: sent }, (res) => {
      let raw = ''
      const stream: EventStream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => raw,
        events: [],
        retries: [],
        comments: [],
        next: async (count) => {
          await until(`${count} events`, () => stream.events.length >= count)
          return stream.events.slice(0, count)
        },
        ended: new Promise((resolve) => { res.on('close', () => resolve()) }),
        close: () => { req.destroy() },
        pause: () => { res.pause() },
        resume: () => { res.resume() }
      }
      const parser = createParser({
        onEvent: (event) => { stream.events.push(event) },
        onRetry: (ms) => { stream.retries.push(ms) },
        onComment: (comment) => { stream.comments.push(comment) }
      })
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        raw += chunk
        parser.feed(chunk)
      })
      res.on('error', () => {})
      t.teardown(() => { req.destroy() })
      resolve(stream)
    })
    req.on('error', reject)
    req.end()
  })
}
