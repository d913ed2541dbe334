import type { Span } from '@opentelemetry/api'
import {
  ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_REQUEST_METHOD_ORIGINAL, ATTR_NETWORK_PROTOCOL_VERSION, ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT, ATTR_URL_PATH, ATTR_URL_SCHEME, ATTR_USER_AGENT_ORIGINAL, HTTP_REQUEST_METHOD_VALUE_CONNECT, HTTP_REQUEST_METHOD_VALUE_DELETE,
  HTTP_REQUEST_METHOD_VALUE_GET, HTTP_REQUEST_METHOD_VALUE_HEAD, HTTP_REQUEST_METHOD_VALUE_OPTIONS, HTTP_REQUEST_METHOD_VALUE_OTHER,
  HTTP_REQUEST_METHOD_VALUE_PATCH, HTTP_REQUEST_METHOD_VALUE_POST, HTTP_REQUEST_METHOD_VALUE_PUT, HTTP_REQUEST_METHOD_VALUE_TRACE
} from '@opentelemetry/semantic-conventions'

/**
 * The server span of a request as the stable HTTP semantic conventions describe it
 * (https://opentelemetry.io/docs/specs/semconv/http/http-spans/#http-server): @fastify/otel sets the method,
 * the path, the route and the status code; this adds the rest, when the span starts.
 */

/** What a server span needs of a request (Fastify's: `protocol` and `hostname` as TRUST_PROXY resolves them). */
export interface ServerRequest {
  method: string
  url: string
  protocol: string
  hostname: string
  port: number | null
  headers: Record<string, string | string[] | undefined>
  raw: { httpVersion: string }
  routeOptions: { url?: string | undefined }
}

/** The methods the conventions name; any other is `_OTHER` (its name in `http.request.method_original`). */
const KNOWN_METHODS = new Set<string>([
  HTTP_REQUEST_METHOD_VALUE_CONNECT, HTTP_REQUEST_METHOD_VALUE_DELETE, HTTP_REQUEST_METHOD_VALUE_GET, HTTP_REQUEST_METHOD_VALUE_HEAD,
  HTTP_REQUEST_METHOD_VALUE_OPTIONS, HTTP_REQUEST_METHOD_VALUE_PATCH, HTTP_REQUEST_METHOD_VALUE_POST, HTTP_REQUEST_METHOD_VALUE_PUT,
  HTTP_REQUEST_METHOD_VALUE_TRACE
])

/**
 * Names the span `{method} {http.route}`, or `{method}` when no route matched (never the URL: unbounded, and
 * the caller's), `HTTP` standing for a method the conventions do not know; and sets the Required and
 * Recommended attributes @fastify/otel leaves out. `url.path` is the path alone and `url.query` is not
 * recorded: a query is the caller's text and the API takes none (docs/operations.md#tracing).
 */
export function describeServerSpan (span: Span, request: ServerRequest): void {
  const known = KNOWN_METHODS.has(request.method)
  const method = known ? request.method : 'HTTP'
  const route = request.routeOptions.url
  span.updateName(route === undefined ? method : `${method} ${route}`)
  if (!known) span.setAttributes({ [ATTR_HTTP_REQUEST_METHOD]: HTTP_REQUEST_METHOD_VALUE_OTHER, [ATTR_HTTP_REQUEST_METHOD_ORIGINAL]: request.method })
  const query = request.url.indexOf('?')
  if (query !== -1) span.setAttribute(ATTR_URL_PATH, request.url.slice(0, query))
  const scheme = request.protocol
  span.setAttributes({
    [ATTR_URL_SCHEME]: scheme,
    [ATTR_NETWORK_PROTOCOL_VERSION]: request.raw.httpVersion
  })
  // From the Host header (or a trusted proxy's X-Forwarded-Host); its port, or the scheme's default. An HTTP/1.0
  // request may come without one: then neither is known.
  if (request.hostname !== '') {
    span.setAttributes({
      // An IPv6 literal without its brackets, as the conventions write addresses.
      [ATTR_SERVER_ADDRESS]: request.hostname.replace(/^\[(.*)\]$/, '$1'),
      [ATTR_SERVER_PORT]: request.port ?? (scheme === 'https' ? 443 : 80)
    })
  }
  const userAgent = request.headers['user-agent']
  if (typeof userAgent === 'string') span.setAttribute(ATTR_USER_AGENT_ORIGINAL, userAgent)
}
