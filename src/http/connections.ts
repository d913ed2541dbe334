import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/** Descriptors kept out of the connection budget: Vobiz's pool, Redis, stdio, the event loop's own, and margin. */
const MIN_HEADROOM = 64
/** Without a readable limit (not Linux), the cap is this. */
const FALLBACK_MAX_CONNECTIONS = 10_000

/** The soft limit on open files from /proc/self/limits ("Max open files  1024  1048576  files"), if readable. */
export function descriptorLimit (limits = '/proc/self/limits'): number | undefined {
  let text: string
  try {
    text = readFileSync(limits, 'utf8')
  } catch {
    return undefined
  }
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1]
  return soft === undefined || soft === 'unlimited' ? undefined : Number(soft)
}

/** MAX_CONNECTIONS when it is not set: the descriptor limit less a tenth of it (at least 64) of headroom. */
export function defaultMaxConnections (limit: number | undefined): number {
  if (limit === undefined) return FALLBACK_MAX_CONNECTIONS
  return Math.max(1, limit - Math.max(MIN_HEADROOM, Math.floor(limit / 10)))
}

/**
 * The connection cap in force: MAX_CONNECTIONS (or its default), but never more than the descriptor limit less
 * 64. A connection past Node's cap is dropped where the process sees it ('drop', counted); one that finds no
 * descriptor is accepted and closed inside libuv, which tells the process nothing, so it cannot be counted.
 */
export function connectionCap (configured: number | undefined, limit: number | undefined): number {
  const ceiling = limit === undefined ? Number.POSITIVE_INFINITY : Math.max(1, limit - MIN_HEADROOM)
  return Math.min(configured ?? defaultMaxConnections(limit), ceiling)
}

export interface ConnectionGuardOptions {
  maxConnections: number
  log: FastifyBaseLogger
  /** Called for each connection dropped or refused (for metrics). */
  onRefused: () => void
}

/**
 * Keeps the listener alive whatever clients do. Past `maxConnections` Node drops new connections at once
 * (they never reach the parser); if descriptors run out anyway, accept() fails with EMFILE — an 'error' on
 * the server that would otherwise crash the process — and libuv drops the connection. Either way established
 * connections keep being served, and the first connection accepted afterwards ends the episode. One line
 * when an episode starts and one when it ends (with the count), never one per connection.
 */
export function guardConnections (server: Server, { maxConnections, log, onRefused }: ConnectionGuardOptions): void {
  server.maxConnections = maxConnections
  let episode: 'limit' | 'descriptors' | undefined
  let refused = 0
  const refuse = (kind: 'limit' | 'descriptors', report: () => void): void => {
    refused += 1
    onRefused()
    if (episode === kind) return
    episode = kind
    report()
  }
  server.on('drop', () => {
    refuse('limit', () => { log.warn({ maxConnections }, `connection limit reached: new connections are dropped until some close (MAX_CONNECTIONS=${maxConnections})`) })
  })
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.syscall !== 'accept') {
      log.error({ err }, 'server error')
      return
    }
    refuse('descriptors', () => { log.error({ code: err.code }, 'cannot accept connections (out of file descriptors?): new connections are dropped until descriptors free up') })
  })
  server.on('connection', () => {
    if (episode === undefined) return
    log.info({ refused }, `accepting connections again; ${refused} were dropped`)
    episode = undefined
    refused = 0
  })
}

/**
 * The connection guard on the app's server: MAX_CONNECTIONS, or the default derived from the descriptor limit,
 * lowered (with a warning) where the descriptor limit could not hold it.
 */
async function connections (app: FastifyInstance, { maxConnections, descriptors = descriptorLimit() }: { maxConnections: number | undefined, descriptors?: number | undefined }): Promise<void> {
  const log = app.log.child({ component: 'connections' })
  const cap = connectionCap(maxConnections, descriptors)
  if (maxConnections !== undefined && cap < maxConnections) {
    log.warn({ maxConnections: cap, openFilesLimit: descriptors },
      `MAX_CONNECTIONS=${maxConnections} is more than the open-files limit (${descriptors}) can hold: capped at ${cap}, so that connections past it are dropped and counted instead of closed unseen for lack of descriptors`)
  }
  guardConnections(app.server, { maxConnections: cap, log, onRefused: () => { app.metrics.connectionsRefused.inc() } })
}

export default fp(connections, { name: 'connections', fastify: '5.x', dependencies: ['metrics'] })
