import { randomBytes, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { PROFILE_EXAMPLE } from '../schemas/profile.ts'

/**
 * A simulated Vobiz partner API: a real HTTP server implementing GET /api/v1/partner/me as documented,
 * with a programmatic control API for tests and demos (request counting, fault injection).
 * Its data is made up; it is never started unless VOBIZ_SANDBOX=true or a test starts it.
 */

/** The shape the documented examples show (numeric balance, currency, GST and TDS fields). */
export type ProfileShape = 'documented' | 'current'

/** The three documented error body forms. */
export type ErrorForm = 'nested' | 'flat' | 'plivo'

export type Fault =
  /** Answer with this status and an error body (or `body` verbatim when given). */
  | { kind: 'status', status: number, body?: unknown, headers?: Record<string, string>, form?: ErrorForm }
  /** Answer 200 with this JSON value as the body. */
  | { kind: 'body', body: unknown }
  /** Answer `status` with a body that echoes the request headers, credentials included (as some APIs' errors do). */
  | { kind: 'echo', status: number }
  /** Answer 200 with a body that is not JSON. */
  | { kind: 'malformed' }
  /** Wait before sending anything, then answer normally. */
  | { kind: 'delay', ms: number }
  /** Send headers and half the body, then stall for `ms` before finishing. */
  | { kind: 'stall-body', ms: number }
  /** Destroy the connection before any response, or after part of the body. */
  | { kind: 'reset', when: 'before-headers' | 'mid-body' }
  /** Answer 200 with a valid profile padded by `bytes` bytes; `chunked` leaves Content-Length out. */
  | { kind: 'oversize', bytes: number, chunked?: boolean }

export interface SandboxOptions {
  authId?: string
  authToken?: string
  shape?: ProfileShape
  /** Form of the 401 body for bad credentials. */
  errorForm?: ErrorForm
  now?: () => number
}

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
}

const PATH = '/api/v1/partner/me'
const SEED_BALANCE = 48250
/** The simulated account spends this much per second of wall time, so the demo's balance visibly moves. */
const SPEND_PER_SECOND = 0.75

function errorBody (form: ErrorForm, status: number, code: string, message: string): unknown {
  switch (form) {
    case 'flat': return { error: code.toLowerCase(), message }
    case 'plivo': return { api_id: randomBytes(8).toString('hex'), error: message }
    default: return { status: 'error', error: { code, message }, requestId: `req_${randomBytes(6).toString('hex')}`, http_status: status }
  }
}

function sameSecret (a: string | string[] | undefined, b: string): boolean {
  if (typeof a !== 'string') return false
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  return left.length === right.length && timingSafeEqual(left, right)
}

export class Sandbox {
  readonly authId: string
  /** The token it accepts; assign another to rotate it (the old one is refused from then on). */
  authToken: string
  shape: ProfileShape
  errorForm: ErrorForm
  /** Requests received on the partner route (any outcome). */
  requests = 0
  /** The most recent requests on any path, newest last (at most 50). */
  readonly recorded: RecordedRequest[] = []

  readonly #server: Server
  readonly #sockets = new Set<Socket>()
  readonly #faults: Array<{ fault: Fault, remaining: number }> = []
  /** Requests held unanswered by hold(), to answer on release(). */
  #held: Array<() => void> | undefined
  #arrivals: Array<{ count: number, resolve: () => void }> = []
  readonly #now: () => number
  readonly #startedAt: number
  #url = ''

  constructor (options: SandboxOptions = {}) {
    this.authId = options.authId ?? `MA${randomBytes(9).toString('hex').toUpperCase()}`
    this.authToken = options.authToken ?? randomBytes(24).toString('base64url')
    this.shape = options.shape ?? 'documented'
    this.errorForm = options.errorForm ?? 'nested'
    this.#now = options.now ?? Date.now
    this.#startedAt = this.#now()
    this.#server = createServer((req, res) => { this.#handle(req, res) })
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
  }

  /** Base URL to use as VOBIZ_BASE_URL. */
  get url (): string {
    return this.#url
  }

  /** Listens on an ephemeral loopback port. */
  async listen (): Promise<this> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
    this.#url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
    return this
  }

  /** Queues a fault for the next `times` requests (default: until cleared). Faults apply in order. */
  inject (fault: Fault, times = Number.POSITIVE_INFINITY): this {
    this.#faults.push({ fault, remaining: times })
    return this
  }

  /**
   * Holds every request that arrives from now on unanswered, until release(): a fetch that is certainly in
   * flight, for as long as a test needs it to be, without guessing at durations.
   */
  hold (): this {
    this.#held ??= []
    return this
  }

  /** Answers the held requests (each with the fault it drew when it arrived) and stops holding. */
  release (): this {
    const held = this.#held ?? []
    this.#held = undefined
    for (const answer of held) answer()
    return this
  }

  /** Resolves once the partner route has received `count` requests in all (counting from the start). */
  async received (count: number): Promise<void> {
    if (this.requests >= count) return
    await new Promise<void>((resolve) => { this.#arrivals.push({ count, resolve }) })
  }

  /** Removes every queued fault: the sandbox answers normally again. */
  clearFaults (): this {
    this.#faults.length = 0
    return this
  }

  /** The balance the simulated account has now. */
  balance (): number {
    const elapsed = Math.floor((this.#now() - this.#startedAt) / 1000)
    return Math.round((SEED_BALANCE - elapsed * SPEND_PER_SECOND) * 100) / 100
  }

  /**
   * Changes the partner's profile from now on, as an operator (or a payment) would at Vobiz: these fields
   * replace the simulated ones in every answer (`balance` too, which then stops following the clock).
   */
  update (fields: Record<string, unknown>): this {
    this.#overrides = { ...this.#overrides, ...fields }
    return this
  }

  #overrides: Record<string, unknown> = {}

  /** The profile body as the sandbox's shape sends it, with the updates made so far. */
  profile (): Record<string, unknown> {
    return { ...this.#simulated(), ...this.#overrides }
  }

  #simulated (): Record<string, unknown> {
    const balance = this.balance()
    const updatedAt = new Date(Math.floor(this.#now() / 1000) * 1000).toISOString()
    if (this.shape === 'current') {
      return {
        id: '6f1c2a4e-8b1d-4c3e-9a57-2d0b5e7f9c11',
        auth_id: this.authId,
        name: 'Acme Telecom Pvt Ltd',
        slug: 'acme-telecom',
        email: 'billing@acme.example',
        phone: '+919876543210',
        company: 'Acme Telecom Pvt Ltd',
        balance: balance.toFixed(5),
        account_type: 'partner',
        status: 'active',
        is_active: true,
        can_transfer_balance: true,
        created_at: '2024-01-15T10:30:00Z',
        updated_at: updatedAt
      }
    }
    // The documented example partner, as the documented shape sends it.
    return { ...PROFILE_EXAMPLE, balance, updated_at: updatedAt }
  }

  #nextFault (): Fault | undefined {
    const head = this.#faults[0]
    if (head === undefined) return undefined
    head.remaining -= 1
    if (head.remaining <= 0) this.#faults.shift()
    return head.fault
  }

  #send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    this.recorded.push({ method: String(req.method), url: String(req.url), headers: req.headers })
    if (this.recorded.length > 50) this.recorded.shift()
    const url = new URL(String(req.url), 'http://sandbox')
    if (url.pathname !== PATH) {
      this.#send(res, 404, errorBody(this.errorForm, 404, 'NOT_FOUND', 'Not found'))
      return
    }
    this.requests += 1
    for (const arrival of this.#arrivals) if (arrival.count <= this.requests) arrival.resolve()
    this.#arrivals = this.#arrivals.filter((arrival) => arrival.count > this.requests)

    if (req.method !== 'GET') {
      this.#send(res, 405, errorBody(this.errorForm, 405, 'METHOD_NOT_ALLOWED', 'Method not allowed'), { allow: 'GET' })
      return
    }
    const fault = this.#nextFault()
    if (this.#held !== undefined) {
      this.#held.push(() => { this.#respond(req, res, fault) })
      return
    }
    this.#respond(req, res, fault)
  }

  #respond (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
    if (fault?.kind === 'delay') {
      const timer = setTimeout(() => { this.#answer(req, res, undefined) }, fault.ms)
      res.on('close', () => clearTimeout(timer))
      return
    }
    this.#answer(req, res, fault)
  }

  #answer (req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
    if (fault?.kind === 'reset' && fault.when === 'before-headers') {
      req.socket.destroy()
      return
    }
    if (fault?.kind === 'echo') {
      this.#send(res, fault.status, { error: { code: 'ECHO', message: `request headers: ${JSON.stringify(req.headers)}` }, headers: req.headers })
      return
    }
    if (fault?.kind === 'status') {
      const body = fault.body ?? errorBody(fault.form ?? this.errorForm, fault.status, `HTTP_${fault.status}`, 'Injected failure')
      this.#send(res, fault.status, body, fault.headers)
      return
    }
    if (!sameSecret(req.headers['x-auth-id'], this.authId) || !sameSecret(req.headers['x-auth-token'], this.authToken)) {
      this.#send(res, 401, errorBody(this.errorForm, 401, 'INVALID_CREDENTIALS', 'Invalid X-Auth-ID or X-Auth-Token'))
      return
    }
    switch (fault?.kind) {
      case 'body':
        this.#send(res, 200, fault.body)
        return
      case 'malformed':
        this.#send(res, 200, '{"id": "partner-882abc", "balance": 12')
        return
      case 'oversize': {
        const text = JSON.stringify({ ...this.profile(), padding: 'x'.repeat(fault.bytes) })
        if (fault.chunked === true) {
          res.writeHead(200, { 'content-type': 'application/json' })
          res.end(text)
        } else {
          this.#send(res, 200, text)
        }
        return
      }
      case 'stall-body':
      case 'reset': {
        const text = JSON.stringify(this.profile())
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
        res.write(text.slice(0, text.length >> 1))
        if (fault.kind === 'reset') {
          setImmediate(() => req.socket.destroy())
          return
        }
        const timer = setTimeout(() => res.end(text.slice(text.length >> 1)), fault.ms)
        res.on('close', () => clearTimeout(timer))
        return
      }
      default:
        this.#send(res, 200, this.profile())
    }
  }

  async close (): Promise<void> {
    this.#held = undefined
    for (const socket of this.#sockets) socket.destroy()
    if (this.#server.listening) {
      this.#server.close()
      await once(this.#server, 'close')
    }
  }
}

export async function startSandbox (options: SandboxOptions = {}): Promise<Sandbox> {
  return new Sandbox(options).listen()
}
