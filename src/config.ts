import { readFileSync } from 'node:fs'
import Type, { type Static, type TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { ConsumerListSchema, type Consumer } from './consumers.ts'
import { parseTrustProxy, type TrustProxy } from './http/client-address.ts'
import { unknownVariables } from './config-hygiene.ts'
import { resolveSecretFiles } from './secret-files.ts'
import { isEncrypted } from './secure-url.ts'
import { parseSubscriptions, type Subscription } from './webhooks/subscriptions.ts'
import type { TracingSettings } from './observability/tracing.ts'
import { tracingSettings } from './tracing-config.ts'
import { codeOf } from './caught.ts'

const REDIS_FALLBACKS = ['local', 'open', 'closed'] as const
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const TRACES_EXPORTERS = ['otlp', 'none'] as const
const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const
const TRACES_SAMPLERS = ['parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio', 'always_on', 'always_off', 'traceidratio'] as const
/** Signature algorithms accepted for frontend JWTs: asymmetric only, so `none` and HS* can never verify. */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

/**
 * The environment contract. Each property's description is what the start-up error says is expected,
 * and what .env.example and docs/configuration.md (generated from `doc` / `docDefault`) document. Secrets are marked so their values are never echoed.
 */
export const EnvSchema = Type.Object({
  HOST: Type.Optional(Type.String({ minLength: 1, description: 'a listen address such as 0.0.0.0, 127.0.0.1 or :: (default 0.0.0.0; 127.0.0.1 with VOBIZ_SANDBOX=true, whose demo key must not be reachable from the network)', doc: 'listen address; the sandbox defaults to loopback because it prints a live demo key', docDefault: '`0.0.0.0` (`127.0.0.1` with `VOBIZ_SANDBOX=true`)' })),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'an integer port from 0 to 65535 (0 picks a free port)', doc: 'listen port (0 picks a free one)' }),
  MAX_CONNECTIONS: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'an integer from 1 to 1000000: open client connections past which new ones are dropped (default: the open-files limit less a tenth of it, at least 64, kept for Vobiz, Redis and logs)', doc: 'open client connections past which new ones are dropped at once and counted; at most the open-files limit less 64 (a larger value is lowered to that, with a warning). The limit is read from `/proc/self/limits`; 10000 where that does not exist', docDefault: 'open-files limit less a tenth of it (at least 64)' })),
  HEADERS_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 300000, description: 'an integer number of milliseconds from 100 to 300000: a connection that has not sent a complete request head in this time gets 408 and is closed', doc: 'a connection that has not sent a complete request head in this time gets 408 and is closed (checked every second)' }),
  REQUEST_TIMEOUT_MS: Type.Integer({ default: 10000, minimum: 100, maximum: 300000, description: 'an integer number of milliseconds from 100 to 300000 (at least HEADERS_TIMEOUT_MS): the longest a client may take to send a whole request', doc: 'longest a client may take to send a whole request (at least `HEADERS_TIMEOUT_MS`)' }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100, maximum: 600000, description: 'an integer number of milliseconds from 100 to 600000: an idle keep-alive connection is closed after this (behind a load balancer, set it above the balancer\'s idle timeout)', doc: "an idle keep-alive connection is closed after this; behind a load balancer, set it above the balancer's idle timeout" }),
  VOBIZ_BASE_URL: Type.String({ default: 'https://api.vobiz.ai', description: 'an https:// origin (http:// only for a loopback host), e.g. https://api.vobiz.ai', doc: 'Vobiz origin; must be `https://` (plain `http://` only for a loopback host, so the credentials never travel unencrypted); may carry a path prefix for an egress proxy' }),
  VOBIZ_AUTH_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 512, secret: true, description: 'the Vobiz partner auth id (X-Auth-ID)', doc: 'partner auth id, sent as `X-Auth-ID`', docDefault: '— (required unless sandbox)' })),
  VOBIZ_AUTH_ID_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the path of a file holding VOBIZ_AUTH_ID (a trailing line break is ignored; set one of VOBIZ_AUTH_ID and VOBIZ_AUTH_ID_FILE)', doc: 'path of a file holding `VOBIZ_AUTH_ID` instead (Docker / Kubernetes secrets); re-read on SIGHUP and when it changes' })),
  VOBIZ_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, secret: true, description: 'the Vobiz partner auth token (X-Auth-Token)', doc: 'partner auth token, sent as `X-Auth-Token`', docDefault: '— (required unless sandbox)' })),
  VOBIZ_AUTH_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the path of a file holding VOBIZ_AUTH_TOKEN (a trailing line break is ignored; set one of VOBIZ_AUTH_TOKEN and VOBIZ_AUTH_TOKEN_FILE)', doc: 'path of a file holding `VOBIZ_AUTH_TOKEN` instead; re-read on SIGHUP and when it changes, so a rotation needs no restart' })),
  VOBIZ_SANDBOX: Type.Boolean({ default: false, description: 'true or false; true starts the built-in simulated Vobiz API and uses it', doc: '`true`: start the built-in simulated Vobiz API on an ephemeral loopback port and use it; data is made up and the log says so', envExample: 'true' }),
  PROFILE_TTL_SECONDS: Type.Integer({ default: 30, minimum: 1, maximum: 86400, description: 'an integer number of seconds from 1 to 86400', doc: 'freshness of `/profile` data (1–86400)' }),
  BALANCE_TTL_SECONDS: Type.Integer({ default: 5, minimum: 1, maximum: 3600, description: 'an integer number of seconds from 1 to 3600', doc: 'freshness of `/profile/balance` data (1–3600)' }),
  UPSTREAM_TIMEOUT_MS: Type.Integer({ default: 2500, minimum: 100, maximum: 60000, description: 'an integer number of milliseconds from 100 to 60000', doc: 'overall deadline of one upstream fetch: connect, headers and body (100–60000)' }),
  UPSTREAM_ATTEMPT_TIMEOUT_MS: Type.Integer({ default: 1000, minimum: 50, maximum: 60000, description: 'an integer number of milliseconds from 50 to 60000: the longest one attempt may take', doc: 'longest one attempt may take (capped by what is left of `UPSTREAM_TIMEOUT_MS`)' }),
  UPSTREAM_RETRIES: Type.Integer({ default: 2, minimum: 0, maximum: 5, description: 'an integer from 0 to 5: extra attempts after a retryable failure', doc: 'extra attempts after a retryable failure (connection error, timeout before headers, 429, 502, 503, 504)' }),
  UPSTREAM_MAX_RETRY_AFTER_SECONDS: Type.Integer({ default: 120, minimum: 1, maximum: 3600, description: 'an integer number of seconds from 1 to 3600: the longest one Vobiz 429 (its Retry-After) holds the service off Vobiz', doc: 'the longest one Vobiz 429 (its `Retry-After`) holds the whole service off Vobiz (1–3600)' }),
  BREAKER_FAILURE_THRESHOLD: Type.Integer({ default: 5, minimum: 1, maximum: 1000, description: 'an integer from 1 to 1000: consecutive failed fetches that open the circuit breaker', doc: 'consecutive failed fetches that open the circuit breaker' }),
  BREAKER_OPEN_SECONDS: Type.Number({ default: 10, minimum: 0.1, maximum: 3600, description: 'a number of seconds from 0.1 to 3600 the breaker stays open before one probe', doc: 'how long the breaker stays open before it lets one probe through (decimals allowed)' }),
  PROFILE_STALE_WHILE_REVALIDATE_SECONDS: Type.Integer({ default: 60, minimum: 0, maximum: 86400, description: 'an integer number of seconds from 0 to 86400', doc: 'past its freshness, `/profile` is served at once for this long while one background fetch refreshes it' }),
  PROFILE_STALE_IF_ERROR_SECONDS: Type.Integer({ default: 600, minimum: 0, maximum: 604800, description: 'an integer number of seconds from 0 to 604800', doc: 'past its freshness, `/profile` is served for this long when fetches fail' }),
  BALANCE_STALE_IF_ERROR_SECONDS: Type.Integer({ default: 60, minimum: 0, maximum: 86400, description: 'an integer number of seconds from 0 to 86400', doc: 'past its freshness, `/profile/balance` is served for this long when fetches fail (it has no stale-while-revalidate)' }),
  UPSTREAM_MAX_BODY_BYTES: Type.Integer({ default: 65536, minimum: 1024, maximum: 10485760, description: 'an integer number of bytes from 1024 to 10485760', doc: 'largest Vobiz response body accepted; larger is `upstream_invalid_response`' }),
  CONSUMERS: Type.Optional(Type.String({ secret: true, description: 'a JSON array of {"name","key_sha256","scopes":[...],"rate_limit_per_minute"?}', doc: 'JSON array of consumers (below); required unless sandbox' })),
  CONSUMERS_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the path of a file holding the CONSUMERS JSON array', doc: 'path of a file holding that JSON array instead (set one of the two, not both)' })),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ default: 600, minimum: 1, maximum: 1000000, description: 'an integer from 1 to 1000000: requests per minute per consumer without rate_limit_per_minute', doc: 'requests per minute per consumer without its own `rate_limit_per_minute`, and per JWT `sub`' }),
  ANONYMOUS_RATE_LIMIT_PER_MINUTE: Type.Integer({ default: 30, minimum: 1, maximum: 100000, description: 'an integer from 1 to 100000: requests per minute per client IP without valid credentials', doc: 'requests per minute per client IP that come without valid credentials (slows key guessing)' }),
  REFRESH_PER_MINUTE: Type.Integer({ default: 30, minimum: 0, maximum: 100000, description: 'an integer from 0 to 100000: forced refreshes (Cache-Control: no-cache) per minute per consumer', doc: 'forced refreshes (`Cache-Control: no-cache` / `max-age=0`) per minute per caller; past it the cached answer is served (0 disables forced refreshes)' }),
  TRUST_PROXY: Type.String({ default: 'false', description: 'false; a number of proxy hops in front of the service (1: the last X-Forwarded-For entry is the client); a comma-separated list of proxy addresses or CIDR ranges (10.0.0.0/8,loopback); or true, which trusts every hop, so only behind a proxy that overwrites X-Forwarded-For', doc: 'where the client address comes from: `false` (the socket); a hop count (`1`: the last `X-Forwarded-For` entry, the one your proxy appended); a comma-separated list of proxy addresses / CIDR ranges / `loopback`, `linklocal`, `uniquelocal` (the first address from the right that is not a trusted proxy); `true` trusts every hop (the leftmost entry, which a client can forge unless the proxy overwrites the header)' }),
  JWT_JWKS_URL: Type.Optional(Type.String({ description: 'the https:// URL of the JWKS that signs frontend tokens (http:// only on loopback)', doc: 'JWKS of the issuer of frontend tokens (`https://`, or `http://` on loopback); with the next two, enables `Authorization: Bearer`' })),
  JWT_ISSUER: Type.Optional(Type.String({ minLength: 1, description: 'the required iss claim of frontend tokens', doc: 'required `iss` of frontend tokens' })),
  JWT_AUDIENCE: Type.Optional(Type.String({ minLength: 1, description: 'the required aud claim of frontend tokens', doc: 'required `aud` of frontend tokens' })),
  JWT_ALGORITHMS: Type.String({ default: 'RS256,ES256,PS256,EdDSA', description: `a comma-separated list of asymmetric JWS algorithms from ${ASYMMETRIC_ALGORITHMS.join(', ')}`, doc: 'accepted signature algorithms; asymmetric only (`none` and `HS*` are refused at start-up)' }),
  JWT_CLOCK_TOLERANCE_SECONDS: Type.Integer({ default: 30, minimum: 0, maximum: 300, description: 'an integer number of seconds from 0 to 300 allowed for clock skew on exp/nbf', doc: 'clock skew allowed on `exp` / `nbf`' }),
  JWT_JWKS_COOLDOWN_SECONDS: Type.Integer({ default: 30, minimum: 0, maximum: 3600, description: 'an integer number of seconds from 0 to 3600 between JWKS refetches on an unknown kid', doc: 'minimum time between JWKS refetches caused by tokens with an unknown `kid`' }),
  CORS_ORIGINS: Type.Optional(Type.String({ description: 'a comma-separated list of allowed browser origins (https://app.example.com), or *', doc: 'comma-separated browser origins allowed by CORS, or `*`; unset allows none' })),
  METRICS_TOKEN: Type.Optional(Type.String({ minLength: 16, maxLength: 512, secret: true, description: 'a secret of at least 16 characters; GET /metrics then answers to Authorization: Bearer <it>', doc: 'enables `GET /metrics` (Prometheus) on the main port for `Authorization: Bearer <token>`; at least 16 characters; unset: no `/metrics`' })),
  METRICS_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the path of a file holding METRICS_TOKEN (a trailing line break is ignored; set one of METRICS_TOKEN and METRICS_TOKEN_FILE)', doc: 'path of a file holding `METRICS_TOKEN` instead (read at start)' })),
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ default: 1000, minimum: 0, maximum: 60000, description: 'an integer number of milliseconds from 0 (off) to 60000: event-loop delay past which requests are shed with 503', doc: 'event-loop delay past which requests are shed with 503 `service_unavailable` + `Retry-After` (0: off; probes exempt)' }),
  MAX_HEAP_USED_BYTES: Type.Integer({ default: 268435456, minimum: 0, description: 'an integer number of bytes (0: off): live heap (what a full collection leaves) past which requests are shed with 503', doc: 'live heap past which requests are shed the same way (0: off): a reported heap over it is checked with one full collection, so garbage alone never sheds' }),
  DOCS_ENABLED: Type.Boolean({ default: true, description: 'true or false; false turns off /docs, /openapi.json and /openapi.yaml', doc: '`false` turns off `/docs` (Swagger UI), `/openapi.json` and `/openapi.yaml`' }),
  REDIS_URL: Type.Optional(Type.String({ secret: true, description: 'a redis:// or rediss:// URL (redis://:password@host:6379/0); set, the replicas share rate limits, the cache and upstream fetches', doc: '`redis://` or `rediss://` URL of a Redis shared by the replicas (see [Scaling out](scaling.md)); unset: everything stays in memory, per process' })),
  REDIS_URL_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the path of a file holding REDIS_URL (a trailing line break is ignored; set one of REDIS_URL and REDIS_URL_FILE)', doc: 'path of a file holding `REDIS_URL` instead (read at start)' })),
  REDIS_TIMEOUT_MS: Type.Integer({ default: 100, minimum: 5, maximum: 10000, description: 'an integer number of milliseconds from 5 to 10000: the longest a request waits on one Redis command before falling back to local state', doc: 'longest a request waits on one Redis command before the replica falls back to its local state (5–10000)' }),
  REDIS_KEY_PREFIX: Type.String({ default: 'vobiz-bff:', minLength: 1, maxLength: 100, description: 'the prefix of every Redis key (one per deployment sharing a Redis)', doc: 'prefix of every Redis key, so that several deployments can share one Redis' }),
  REDIS_RATE_LIMIT_FALLBACK: Type.Enum(REDIS_FALLBACKS, { default: 'local', description: `one of ${REDIS_FALLBACKS.join(', ')}: how rate limits behave while Redis is unreachable (per-replica counters, no limit, or 503)`, doc: 'rate limits while Redis is unreachable: `local` (each replica counts on its own, so a caller may get up to replicas × its budget), `open` (not counted), `closed` (503 `service_unavailable`)' }),
  CACHE_L1_TTL_MS: Type.Integer({ default: 1000, minimum: 0, maximum: 60000, description: 'an integer number of milliseconds from 0 to 60000: with REDIS_URL, how long a replica serves its own copy before checking the shared one', doc: 'with `REDIS_URL`: how long a replica serves its own copy before checking the shared one, so a refresh on one replica reaches the others within it (0–60000)' }),
  STRICT_CONFIG: Type.Boolean({ default: false, description: 'true or false; true makes a variable that looks like a misspelling of one of ours a start-up error', doc: '`true`: a variable that looks meant for this service but is not one of its variables (a misspelling, or one of its prefixes) stops start-up instead of being logged as a warning' }),
  STARTUP_FETCH: Type.Boolean({ default: true, description: 'true or false; false skips the profile fetch at start', doc: 'fetch the profile once at start, in the background, so the first consumer gets a hit (and wrong credentials show in readiness at once)' }),
  ACCESS_LOG: Type.Boolean({ default: true, description: 'true or false; false drops the one summary log line per request (errors and upstream lines stay)', doc: '`false` drops the one summary log line per request (errors and Vobiz fetch lines stay); see Performance' }),
  LOG_MAX_BUFFER_BYTES: Type.Integer({ default: 4194304, minimum: 65536, maximum: 1073741824, description: 'an integer number of bytes from 65536 to 1073741824: log output held while stdout is not keeping up; past half of it access lines are dropped, past all of it every line (counted in vobiz_bff_log_lines_dropped_total)', doc: 'log output held while stdout is not keeping up (65536–1073741824); past half of it access lines are dropped, past all of it every line, counted in `vobiz_bff_log_lines_dropped_total`' }),
  BALANCE_THRESHOLDS: Type.Optional(Type.String({ description: 'a comma-separated list of balances, e.g. 10000,1000: crossing one (either way) is a balance event of its own', doc: 'balances whose crossing (either way) is reported in `balance` change events (`crossed`), e.g. `10000,1000`' })),
  EVENTS_HISTORY: Type.Integer({ default: 100, minimum: 1, maximum: 100000, description: 'an integer from 1 to 100000: how many change events are kept for subscribers resuming with Last-Event-ID', doc: 'change events kept for subscribers that resume with `Last-Event-ID`; one that missed older ones gets a `snapshot`' }),
  EVENTS_HEARTBEAT_SECONDS: Type.Integer({ default: 15, minimum: 1, maximum: 300, description: 'an integer number of seconds from 1 to 300 between heartbeat comments on an idle event stream', doc: 'seconds between heartbeat comments on an idle `GET /profile/events` stream (keeps proxies from closing it)' }),
  EVENTS_MAX_STREAMS: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'an integer from 1 to 1000000: open GET /profile/events streams on one replica, all callers together (default: sized from MAX_HEAP_USED_BYTES)', doc: 'open `GET /profile/events` streams on one replica, all callers together; one more gets 503 with `Retry-After`, so that streams never make ordinary requests shed', docDefault: 'a third of `MAX_HEAP_USED_BYTES` at 16 KiB a stream (5461 by default; 10000 when the heap limit is off)' })),
  EVENTS_MAX_STREAMS_PER_CALLER: Type.Integer({ default: 5, minimum: 1, maximum: 10000, description: 'an integer from 1 to 10000: open GET /profile/events streams per consumer (or JWT sub, or client network), on one replica', doc: 'open `GET /profile/events` streams per consumer (or JWT `sub`, or anonymous network) on one replica (so up to this many times the replicas in a fleet); one more gets 429' }),
  EVENTS_MAX_BUFFERED_BYTES: Type.Integer({ default: 1048576, minimum: 1024, maximum: 268435456, description: 'an integer number of bytes from 1024 to 268435456: a GET /profile/events stream whose client leaves this much unread is closed', doc: 'a `GET /profile/events` stream whose client leaves this much unread (past what the socket holds) is closed; it reconnects and resumes, or gets a snapshot' }),
  WEBHOOKS_FILE: Type.Optional(Type.String({ minLength: 1, description: 'the path of a JSON file listing webhook endpoints: [{"name","url","events","secret"}]', doc: 'webhook subscriptions: a JSON array of `{name, url, events, secret}`, re-read when it changes and on SIGHUP ([Webhooks](api.md#webhooks))' })),
  WEBHOOKS_TIMEOUT_MS: Type.Integer({ default: 15000, minimum: 100, maximum: 60000, description: 'an integer number of milliseconds from 100 to 60000: the longest one webhook delivery may take, connection to last byte', doc: 'longest one webhook delivery may take (connecting, sending, the response); longer is a failure, retried. Standard Webhooks recommends 15 to 30 s' }),
  WEBHOOKS_RETRY_HOURS: Type.Integer({ default: 24, minimum: 1, maximum: 168, description: 'an integer number of hours from 1 to 168: how long an undelivered change is retried before it is given up', doc: 'how long an undelivered change is retried (with exponential backoff) before it is given up, logged and counted as `expired`' }),
  WEBHOOKS_BACKOFF_MAX_SECONDS: Type.Integer({ default: 3600, minimum: 1, maximum: 86400, description: 'an integer number of seconds from 1 to 86400: the longest wait between two delivery attempts to an endpoint', doc: 'the longest wait between two attempts to a failing endpoint (the wait starts at 1 s and doubles)' }),
  WEBHOOKS_QUEUE_MAX: Type.Integer({ default: 10000, minimum: 1, maximum: 1000000, description: 'an integer from 1 to 1000000: undelivered changes kept per endpoint (past it the oldest are dropped, and counted)', doc: 'undelivered changes kept per endpoint; past it the oldest are dropped and counted as `dropped`' }),
  OTEL_SDK_DISABLED: Type.Boolean({ default: false, description: 'true or false; true turns tracing off whatever else is set', doc: '`true` turns OpenTelemetry tracing off whatever else is set ([Tracing](operations.md#tracing))' }),
  OTEL_TRACES_EXPORTER: Type.Optional(Type.Enum(TRACES_EXPORTERS, { description: `one of ${TRACES_EXPORTERS.join(', ')}`, doc: '`otlp` turns tracing on (to `http://localhost:4318` unless an endpoint is set); `none` turns it off. Unset: on when an OTLP endpoint is set', docDefault: '— (off)' })),
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ description: 'an http:// or https:// URL of an OTLP/HTTP receiver, e.g. http://otel-collector:4318 (/v1/traces is appended)', doc: 'OTLP/HTTP receiver (collector, Jaeger, Tempo); `/v1/traces` is appended. Setting it turns tracing on' })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Type.String({ description: 'an http:// or https:// URL that receives OTLP/HTTP traces as is, e.g. http://otel-collector:4318/v1/traces', doc: 'the full traces URL instead (used as is; wins over the one above). Setting it turns tracing on' })),
  OTEL_EXPORTER_OTLP_PROTOCOL: Type.Enum(OTLP_PROTOCOLS, { default: 'http/protobuf', description: `one of ${OTLP_PROTOCOLS.join(', ')} (gRPC is not supported)`, doc: 'OTLP encoding: `http/protobuf` or `http/json` (gRPC is not supported)' }),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: Type.Optional(Type.Enum(OTLP_PROTOCOLS, { description: `one of ${OTLP_PROTOCOLS.join(', ')} (gRPC is not supported)`, doc: 'the same, for traces only (wins over the one above)' })),
  OTEL_EXPORTER_OTLP_HEADERS: Type.Optional(Type.String({ secret: true, description: 'comma-separated key=value pairs sent with every export, e.g. authorization=Bearer%20abc', doc: 'headers sent with every export (`key=value,key2=value2`, values URL-encoded), e.g. a vendor token; treated as a secret' })),
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: Type.Optional(Type.String({ secret: true, description: 'comma-separated key=value pairs sent with every trace export', doc: 'the same, for traces only; treated as a secret' })),
  OTEL_SERVICE_NAME: Type.String({ default: 'vobiz-partner-bff', minLength: 1, maxLength: 255, description: 'the service.name of the spans', doc: '`service.name` of every span' }),
  OTEL_RESOURCE_ATTRIBUTES: Type.Optional(Type.String({ maxLength: 4096, description: 'comma-separated key=value resource attributes, e.g. deployment.environment.name=production', doc: 'more resource attributes (`key=value,...`), e.g. `deployment.environment.name=production,service.namespace=billing`' })),
  OTEL_TRACES_SAMPLER: Type.Enum(TRACES_SAMPLERS, { default: 'parentbased_always_on', description: `one of ${TRACES_SAMPLERS.join(', ')}`, doc: 'which requests are traced: by default as an authenticated caller\'s `traceparent` says, and all others; `parentbased_traceidratio` with a ratio samples new traces (an anonymous caller\'s `traceparent` never decides)' }),
  OTEL_TRACES_SAMPLER_ARG: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'a ratio from 0 to 1 for the traceidratio samplers', doc: 'the ratio of the `traceidratio` samplers (0–1)', docDefault: '`1`' })),
  OTEL_BSP_MAX_QUEUE_SIZE: Type.Integer({ default: 2048, minimum: 1, maximum: 65536, description: 'an integer from 1 to 65536: the most spans held for export at once', doc: 'the most spans tracing holds at once, queued or being exported, whatever the OTLP receiver does; past it a span is dropped and counted (`vobiz_bff_trace_spans_exported_total{result="dropped"}`)' }),
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: Type.Integer({ default: 512, minimum: 1, maximum: 65536, description: 'an integer from 1 to 65536, at most OTEL_BSP_MAX_QUEUE_SIZE: spans per export', doc: 'spans per export (at most `OTEL_BSP_MAX_QUEUE_SIZE`)' }),
  OTEL_BSP_SCHEDULE_DELAY: Type.Integer({ default: 5000, minimum: 1, maximum: 3600000, description: 'an integer number of milliseconds from 1 to 3600000 between two scheduled exports', doc: 'milliseconds between two scheduled exports (a full batch is exported at once)' }),
  OTEL_BSP_EXPORT_TIMEOUT: Type.Integer({ default: 30000, minimum: 1, maximum: 600000, description: 'an integer number of milliseconds from 1 to 600000: how long the batch processor waits for one export', doc: 'how long the batch processor waits for one export before it sends the next (the spans of an export still under way stay counted in `OTEL_BSP_MAX_QUEUE_SIZE`)' }),
  OTEL_EXPORTER_OTLP_TIMEOUT: Type.Integer({ default: 10000, minimum: 1, maximum: 600000, description: 'an integer number of milliseconds from 1 to 600000: how long one export may take, retries included', doc: 'how long one export may take, its retries included (OTLP exporters retry 429, 502–504 and network errors with backoff); then its spans are given up (`result="failed"`)' }),
  OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: Type.Optional(Type.Integer({ minimum: 1, maximum: 600000, description: 'an integer number of milliseconds from 1 to 600000: the same, for traces only', doc: 'the same, for traces only (wins over the one above)' })),
  LOG_LEVEL: Type.Enum(LOG_LEVELS, { default: 'info', description: `one of ${LOG_LEVELS.join(', ')}`, doc: 'pino level: `fatal`, `error`, `warn`, `info`, `debug`, `trace`, `silent`' })
})
export type Env = Static<typeof EnvSchema>

export type Config = Omit<Env, 'HOST' | 'TRUST_PROXY' | 'CONSUMERS' | 'CONSUMERS_FILE' | 'JWT_ALGORITHMS' | 'CORS_ORIGINS'> & {
  /** HOST, or its default: loopback only in sandbox mode. */
  HOST: string
  /** TRUST_PROXY in Fastify's trustProxy forms. */
  TRUST_PROXY: TrustProxy
  consumers: Consumer[]
  /** CONSUMERS_FILE: where the consumers came from, re-read on SIGHUP and when it changes. */
  consumersFile: string | undefined
  /** JWT_ALGORITHMS as a list. */
  jwtAlgorithms: string[]
  /** CORS_ORIGINS as a list (empty: no browser origin is allowed). */
  corsOrigins: string[]
  /** Variables that look meant for this service but are not its own (logged as warnings at start). */
  warnings: string[]
  /** BALANCE_THRESHOLDS as numbers. */
  balanceThresholds: number[]
  /** OpenTelemetry tracing, when the OTEL_* variables turn it on (src/tracing-config.ts). */
  tracing: TracingSettings | undefined
  /** The webhook subscriptions in WEBHOOKS_FILE (none without it). */
  webhooks: Subscription[]
}

/** Thrown by loadConfig with one human-readable line per problem. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor (problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

type EnvName = keyof typeof EnvSchema.properties
const PROPERTIES = EnvSchema.properties as unknown as Record<EnvName, TSchema & { description: string, secret?: boolean }>

function isSecret (name: EnvName): boolean {
  return PROPERTIES[name].secret === true
}

function describe (name: EnvName): string {
  return PROPERTIES[name].description
}

function shown (name: EnvName, raw: unknown): string {
  return isSecret(name) ? '(value hidden)' : `got ${JSON.stringify(raw)}`
}

/** Reads the variables the schema knows; an empty string counts as unset. */
function pickEnv (env: NodeJS.ProcessEnv): Record<string, string> {
  const picked: Record<string, string> = {}
  for (const name of Object.keys(PROPERTIES)) {
    const value = env[name]
    if (value !== undefined && value !== '') picked[name] = value
  }
  return picked
}

function parseConsumers (env: Env, problems: string[]): Consumer[] {
  if (env.CONSUMERS !== undefined && env.CONSUMERS_FILE !== undefined) {
    problems.push('CONSUMERS, CONSUMERS_FILE: both are set; expected only one of them')
    return []
  }
  if (env.CONSUMERS_FILE !== undefined) return readConsumersFile(env.CONSUMERS_FILE, problems)
  if (env.CONSUMERS !== undefined) return parseConsumerList(env.CONSUMERS, 'CONSUMERS', problems)
  return []
}

/** The consumers in CONSUMERS_FILE, at start and on every reload; problems are appended to `problems`. */
export function readConsumersFile (path: string, problems: string[]): Consumer[] {
  let source: string
  try {
    source = readFileSync(path, 'utf8')
  } catch (err) {
    problems.push(`CONSUMERS_FILE: cannot read ${JSON.stringify(path)} (${String(codeOf(err))}); expected ${describe('CONSUMERS_FILE')}`)
    return []
  }
  return parseConsumerList(source, 'CONSUMERS_FILE', problems)
}

/** The webhook subscriptions in WEBHOOKS_FILE at start (src/plugins/webhooks.ts reloads them). */
function readWebhooksFile (path: string, problems: string[]): Subscription[] {
  try {
    return parseSubscriptions(readFileSync(path, 'utf8'), problems)
  } catch (err) {
    problems.push(`WEBHOOKS_FILE: cannot read ${JSON.stringify(path)} (${String(codeOf(err))}); expected ${describe('WEBHOOKS_FILE')}`)
    return []
  }
}

/** A consumer list, validated whole: the schema, then unique names and keys. */
export function parseConsumerList (source: string, origin: 'CONSUMERS' | 'CONSUMERS_FILE', problems: string[]): Consumer[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(source)
  } catch {
    problems.push(`${origin}: not valid JSON; expected ${describe('CONSUMERS')}`)
    return []
  }
  if (!Value.Check(ConsumerListSchema, parsed)) {
    const seen = new Set<string>()
    for (const error of Value.Errors(ConsumerListSchema, parsed)) {
      // One line per entry; the values are never echoed (an entry may hold a key by mistake).
      const entry = error.instancePath.split('/')[1] ?? ''
      if (seen.has(entry) || error.message === 'schema is false') continue
      seen.add(entry)
      const where = error.instancePath === '' ? 'the top level' : `entry ${error.instancePath}`
      problems.push(`${origin}: ${where} ${error.message}; expected ${describe('CONSUMERS')} with name [A-Za-z0-9._-], key_sha256 of 64 hex characters and scopes from profile:read, balance:read`)
    }
    return []
  }
  const names = new Set<string>()
  const digests = new Set<string>()
  for (const consumer of parsed) {
    if (names.has(consumer.name)) problems.push(`${origin}: consumer name ${JSON.stringify(consumer.name)} appears twice; expected unique names`)
    const digest = consumer.key_sha256.toLowerCase()
    if (digests.has(digest)) problems.push(`${origin}: consumer ${JSON.stringify(consumer.name)} reuses another consumer's key_sha256; expected one key per consumer`)
    names.add(consumer.name)
    digests.add(digest)
  }
  return parsed
}

/** An https:// URL (http:// on loopback only) without credentials, query or fragment. */
function checkSecureUrl (name: 'VOBIZ_BASE_URL' | 'JWT_JWKS_URL', value: string, problems: string[]): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    problems.push(`${name}: not a URL (${shown(name, value)}); expected ${describe(name)}`)
    return
  }
  if (!isEncrypted(url)) {
    problems.push(`${name}: ${url.protocol}//${url.host} is not encrypted; expected ${describe(name)}`)
  } else if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    problems.push(`${name}: must not contain credentials, a query or a fragment; expected ${describe(name)}`)
  }
}

function checkRedisUrl (value: string | undefined, problems: string[]): void {
  if (value === undefined) return
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (url === undefined || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
    problems.push(`REDIS_URL: not a redis:// or rediss:// URL (value hidden); expected ${describe('REDIS_URL')}`)
  }
}

function checkJwt (env: Env, problems: string[]): string[] {
  const set = (['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE'] as const).filter((name) => env[name] !== undefined)
  if (set.length > 0 && set.length < 3) {
    problems.push(`JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE: only ${set.join(', ')} set; expected all three (to accept frontend JWTs) or none`)
  }
  if (env.JWT_JWKS_URL !== undefined) checkSecureUrl('JWT_JWKS_URL', env.JWT_JWKS_URL, problems)
  const algorithms = env.JWT_ALGORITHMS.split(',').map((a) => a.trim()).filter((a) => a !== '')
  const unknown = algorithms.filter((a) => !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a))
  if (algorithms.length === 0 || unknown.length > 0) {
    problems.push(`JWT_ALGORITHMS: ${JSON.stringify(unknown[0] ?? '')} is not accepted; expected ${describe('JWT_ALGORITHMS')}`)
  }
  return algorithms
}

function parseThresholds (value: string | undefined, problems: string[]): number[] {
  const items = (value ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '')
  const thresholds = items.map(Number)
  const bad = items.find((item, i) => !Number.isFinite(thresholds[i]))
  if (bad !== undefined) problems.push(`BALANCE_THRESHOLDS: ${JSON.stringify(bad)} is not a number; expected ${describe('BALANCE_THRESHOLDS')}`)
  return [...new Set(thresholds)]
}

function parseOrigins (value: string | undefined, problems: string[]): string[] {
  if (value === undefined) return []
  const origins = value.split(',').map((o) => o.trim()).filter((o) => o !== '')
  for (const origin of origins) {
    if (origin === '*') continue
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {}
    if (parsed === undefined || parsed.origin !== origin) {
      problems.push(`CORS_ORIGINS: ${JSON.stringify(origin)} is not an origin; expected ${describe('CORS_ORIGINS')}`)
    }
  }
  if (origins.includes('*') && origins.length > 1) problems.push(`CORS_ORIGINS: * cannot be combined with other origins; expected ${describe('CORS_ORIGINS')}`)
  return origins
}

/**
 * Validates the environment. Returns a typed Config or throws a ConfigError listing every problem
 * (variable name, what is wrong, what is expected). Secret values are never part of a message.
 */
export function loadConfig (source: NodeJS.ProcessEnv): Config {
  const problems: string[] = []
  const raw = pickEnv(source)
  resolveSecretFiles(raw, problems)
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, { ...raw })) as Record<string, unknown>

  for (const error of Value.Errors(EnvSchema, env)) {
    // The schema is flat: every error is at /NAME.
    const name = error.instancePath.slice(1) as EnvName
    problems.push(`${name}: ${error.message} (${shown(name, raw[name])}); expected ${describe(name)}`)
  }

  // The remaining checks run on whatever passed the schema, so one start-up reports every problem.
  const valid = env as Env
  checkSecureUrl('VOBIZ_BASE_URL', valid.VOBIZ_BASE_URL, problems)
  const consumers = parseConsumers(valid, problems)
  const jwtAlgorithms = checkJwt(valid, problems)
  const corsOrigins = parseOrigins(valid.CORS_ORIGINS, problems)
  const balanceThresholds = parseThresholds(valid.BALANCE_THRESHOLDS, problems)
  checkRedisUrl(valid.REDIS_URL, problems)
  const tracing = tracingSettings(valid, problems)
  const webhooks = valid.WEBHOOKS_FILE === undefined ? [] : readWebhooksFile(valid.WEBHOOKS_FILE, problems)
  const trustProxy = parseTrustProxy(valid.TRUST_PROXY)
  if (typeof trustProxy === 'string') problems.push(`TRUST_PROXY: ${trustProxy}; expected ${describe('TRUST_PROXY')}`)
  if (valid.REQUEST_TIMEOUT_MS < valid.HEADERS_TIMEOUT_MS) problems.push(`REQUEST_TIMEOUT_MS: ${valid.REQUEST_TIMEOUT_MS} is less than HEADERS_TIMEOUT_MS (${valid.HEADERS_TIMEOUT_MS}); expected ${describe('REQUEST_TIMEOUT_MS')}`)
  if (valid.VOBIZ_SANDBOX === false) {
    if (valid.VOBIZ_AUTH_ID === undefined) problems.push(`VOBIZ_AUTH_ID: missing; expected ${describe('VOBIZ_AUTH_ID')} (or VOBIZ_SANDBOX=true)`)
    if (valid.VOBIZ_AUTH_TOKEN === undefined) problems.push(`VOBIZ_AUTH_TOKEN: missing; expected ${describe('VOBIZ_AUTH_TOKEN')} (or VOBIZ_SANDBOX=true)`)
    if (consumers.length === 0 && !problems.some((p) => p.startsWith('CONSUMERS'))) {
      problems.push(`CONSUMERS: no consumer configured; expected ${describe('CONSUMERS')} in CONSUMERS or CONSUMERS_FILE (npm run keygen makes one; node dist/keygen.js in the image)`)
    }
  }
  const warnings = unknownVariables(source, Object.keys(PROPERTIES), valid.STRICT_CONFIG)
  if (valid.STRICT_CONFIG) problems.push(...warnings)
  if (problems.length > 0) throw new ConfigError(problems)

  const { CONSUMERS: _inline, CONSUMERS_FILE: _file, JWT_ALGORITHMS: _algorithms, CORS_ORIGINS: _origins, HOST, ...rest } = valid
  return {
    ...rest,
    HOST: HOST ?? (valid.VOBIZ_SANDBOX ? '127.0.0.1' : '0.0.0.0'),
    TRUST_PROXY: trustProxy as TrustProxy,
    consumers,
    consumersFile: valid.CONSUMERS_FILE,
    jwtAlgorithms,
    corsOrigins,
    balanceThresholds,
    warnings: valid.STRICT_CONFIG ? [] : warnings,
    tracing,
    webhooks
  }
}

/**
 * The Vobiz credentials, or undefined without them. loadConfig requires both outside sandbox mode, and
 * sandbox mode sets both before it builds the app; only an app built for its OpenAPI document (which never
 * fetches) goes without.
 */
export function vobizCredentials (config: Pick<Config, 'VOBIZ_AUTH_ID' | 'VOBIZ_AUTH_TOKEN'>): { authId: string, authToken: string } | undefined {
  const { VOBIZ_AUTH_ID: authId, VOBIZ_AUTH_TOKEN: authToken } = config
  return authId === undefined || authToken === undefined ? undefined : { authId, authToken }
}
