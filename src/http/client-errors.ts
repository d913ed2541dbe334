import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { PROBLEM_CONTENT_TYPE, PROBLEMS, type Problem, type ProblemCode } from '../schemas/problem.ts'
import { API_SECURITY_HEADERS } from './browser.ts'
import { problem, refuseBeforeRouting, type ProblemError } from './problems.ts'

/** What Node's HTTP parser reports with a 'clientError' (llhttp's HPE_* codes, Node's timeouts); rawPacket is a Buffer. */
interface ClientError extends Error {
  code?: string
  rawPacket?: unknown
}

const SECURITY_HEADER_LINES = Object.entries(API_SECURITY_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('')

function classify (error: ClientError): { code: ProblemCode, detail: string } {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { code: 'request_timeout', detail: 'The request was not received in time. Send it again on a new connection.' }
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'headers_too_large', detail: 'The request line and headers together are too large.' }
    case 'HPE_INVALID_METHOD':
      // RFC 9110 §9.1: a method the server does not recognise gets 501. Anything else there is not HTTP.
      if (Buffer.isBuffer(error.rawPacket) && /^[A-Za-z][A-Za-z0-9_-]* /.test(error.rawPacket.subarray(0, 32).toString('latin1'))) {
        return { code: 'not_implemented', detail: 'This method is not recognised. The API serves GET and HEAD.' }
      }
      return { code: 'bad_request', detail: 'This is not an HTTP/1.1 request.' }
    default:
      return { code: 'bad_request', detail: 'The request is malformed HTTP and cannot be parsed.' }
  }
}

/**
 * Fastify's clientErrorHandler: errors Node's HTTP parser raises before there is a request (malformed
 * syntax, header overflow, a request that did not arrive in time, an unknown method) are answered like every
 * other error, with RFC 9457 problem+json, the security headers and a request id; then the connection is
 * closed, as the bytes after a parse error cannot be trusted.
 */
export function clientErrorHandler (this: { log: FastifyBaseLogger }, error: ClientError, socket: Socket): void {
  const { code, detail } = classify(error)
  answerRaw(socket, code, detail, (requestId, status) => { this.log.debug({ reqId: requestId, parserError: error.code, status }, 'malformed request') })
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without Host gets 400. Node answers it itself (bare, without a body)
 * unless `requireHostHeader` is off; with it off, this onRequest hook answers in problem+json instead.
 */
export const requireHost: onRequestHookHandler = (request, reply, done) => {
  if (request.headers.host !== undefined || request.raw.httpVersion !== '1.1') {
    done()
    return
  }
  reply.header('connection', 'close')
  done(problem('bad_request', 'An HTTP/1.1 request must carry a Host header (RFC 9112, section 3.2).'))
}

/**
 * Node hands a CONNECT request to the server's 'connect' listener, and without one closes the socket
 * unanswered. An origin server does not tunnel: 501, like any other method it does not implement.
 */
export function refuseConnect (_request: IncomingMessage, socket: Duplex): void {
  // node:http hands over the connection's net.Socket, typed as a Duplex.
  answerRaw(socket as Socket, 'not_implemented', 'This service does not tunnel (CONNECT). The API serves GET and HEAD.')
}

/** The problem for an error Fastify's router raises before there is a route (its `frameworkErrors`). */
export function frameworkProblem (error: Pick<FastifyError, 'code'>): ProblemError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return problem('bad_request', 'The request path is not valid percent-encoded UTF-8 (RFC 3986, section 2.1).')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return problem('uri_too_long', 'A segment of the request path is too long.')
    default:
      return problem('bad_request', 'The request cannot be routed.')
  }
}

/**
 * Fastify's frameworkErrors: the router refuses a path (not valid percent-encoding, a segment over
 * maxParamLength) before any hook has run. Answered through the app instead, like every other request.
 */
export function frameworkErrors (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  refuseBeforeRouting(request.raw, reply.raw, frameworkProblem(error), request.server.routing)
}

/**
 * Node answers a request whose `Expect` is not `100-continue` with a bare 417 unless the server listens for
 * 'checkExpectation': then it is answered through the app, in problem+json, and the connection closed (a
 * body may follow that the client meant to send only if the expectation was met).
 */
function refuseExpectation (app: FastifyInstance): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    const error = problem('expectation_failed', 'The only expectation this service meets is Expect: 100-continue.', { connection: 'close' })
    refuseBeforeRouting(request, response, error, app.routing)
  }
}

/** Writes one problem+json response straight to the socket (there is no request object to reply through), then closes it. */
function answerRaw (socket: Socket, code: ProblemCode, detail: string, log?: (requestId: string, status: number) => void): void {
  const { status, title } = PROBLEMS[code]
  const requestId = randomUUID()
  log?.(requestId, status)
  const body: Problem = { type: `urn:vobiz-bff:problem:${code}`, title, status, detail, code, request_id: requestId }
  const json = JSON.stringify(body)
  // A socket the client has already reset fails the write: that error is expected, and must not be unhandled.
  socket.on('error', () => {})
  socket.write(`HTTP/1.1 ${status} ${title}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(json)}\r\n` +
    `cache-control: no-store\r\nconnection: close\r\nx-request-id: ${requestId}\r\n${SECURITY_HEADER_LINES}\r\n${json}`)
  // End once written, then close: the bytes after a parse error cannot be trusted.
  socket.destroySoon()
}

/** What clientErrorHandler and frameworkErrors (server options) do not cover: requests without Host, CONNECT, and `Expect`. */
async function protocolErrors (app: FastifyInstance): Promise<void> {
  app.addHook('onRequest', requireHost)
  app.server.on('connect', refuseConnect)
  app.server.on('checkExpectation', refuseExpectation(app))
}

export default fp(protocolErrors, { name: 'protocol-errors', fastify: '5.x' })
