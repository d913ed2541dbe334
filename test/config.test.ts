import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { configurationReference, envExample } from '../src/config-docs.ts'
import { ConfigError, EnvSchema, loadConfig } from '../src/config.ts'
import { writeDocs } from '../scripts/docs.ts'
import { sha256Hex } from '../src/consumers.ts'

const consumer = { name: 'svc', key_sha256: sha256Hex('k'), scopes: ['profile:read'] }
const base = {
  VOBIZ_AUTH_ID: 'MA_ID_SECRET_1234',
  VOBIZ_AUTH_TOKEN: 'TOKEN_SECRET_5678',
  CONSUMERS: JSON.stringify([consumer])
}

function problems (env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

t.test('defaults', async (t) => {
  const config = loadConfig(base)
  t.match(config, {
    HOST: '0.0.0.0',
    PORT: 3000,
    VOBIZ_BASE_URL: 'https://api.vobiz.ai',
    VOBIZ_SANDBOX: false,
    PROFILE_TTL_SECONDS: 30,
    BALANCE_TTL_SECONDS: 5,
    UPSTREAM_TIMEOUT_MS: 2500,
    UPSTREAM_MAX_BODY_BYTES: 65536,
    LOG_LEVEL: 'info'
  })
  t.same(config.consumers, [consumer])
  t.notOk('CONSUMERS' in config)
  t.equal(config.MAX_CONNECTIONS, undefined, 'derived from the descriptor limit at start-up')
  t.match(config, { HEADERS_TIMEOUT_MS: 5000, REQUEST_TIMEOUT_MS: 10000, KEEP_ALIVE_TIMEOUT_MS: 5000, UPSTREAM_MAX_RETRY_AFTER_SECONDS: 120, LOG_MAX_BUFFER_BYTES: 4194304, TRUST_PROXY: false })
  t.equal(config.WEBHOOKS_TIMEOUT_MS, 15000, 'within Standard Webhooks\' recommended 15–30 s for a delivery')
  t.equal(loadConfig({ VOBIZ_SANDBOX: 'true' }).HOST, '127.0.0.1', 'sandbox mode listens on loopback unless HOST says otherwise')
  t.equal(loadConfig({ VOBIZ_SANDBOX: 'true', HOST: '0.0.0.0' }).HOST, '0.0.0.0')
})

t.test('TRUST_PROXY in a form Fastify does not know is refused, saying why', async (t) => {
  t.match(problems({ ...base, TRUST_PROXY: 'yes' }), [/^TRUST_PROXY: "yes" is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal; expected false; a number of proxy hops/])
  t.same(loadConfig({ ...base, TRUST_PROXY: '2' }).TRUST_PROXY, 2)
  t.same(loadConfig({ ...base, TRUST_PROXY: '10.0.0.0/8,loopback' }).TRUST_PROXY, ['10.0.0.0/8', 'loopback'])
})

t.test('a request timeout shorter than the headers timeout is refused', async (t) => {
  t.match(problems({ ...base, HEADERS_TIMEOUT_MS: '8000', REQUEST_TIMEOUT_MS: '4000' }), [/^REQUEST_TIMEOUT_MS: 4000 is less than HEADERS_TIMEOUT_MS \(8000\)/])
})

t.test('values are converted from strings; empty strings count as unset', async (t) => {
  const config = loadConfig({ ...base, PORT: '8080', VOBIZ_SANDBOX: 'false', BALANCE_TTL_SECONDS: '2', HOST: '', LOG_LEVEL: 'warn' })
  t.equal(config.PORT, 8080)
  t.equal(config.BALANCE_TTL_SECONDS, 2)
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.LOG_LEVEL, 'warn')
})

t.test('one line per problem, naming the variable, what is wrong and what is expected', async (t) => {
  const lines = problems({ ...base, PORT: 'eighty', PROFILE_TTL_SECONDS: '0', LOG_LEVEL: 'loud', UPSTREAM_TIMEOUT_MS: '1.5' })
  t.equal(lines.length, 4)
  t.match(lines[0], /^PORT: must be integer \(got "eighty"\); expected an integer port from 0 to 65535/)
  t.ok(lines.some((l) => /^PROFILE_TTL_SECONDS: .*got "0".*expected an integer number of seconds from 1 to 86400/.test(l)))
  t.ok(lines.some((l) => /^LOG_LEVEL: .*got "loud".*expected one of fatal, error, warn, info, debug, trace, silent/.test(l)))
  t.ok(lines.some((l) => l.startsWith('UPSTREAM_TIMEOUT_MS: ')))
})

t.test('credentials and consumers are required outside sandbox mode', async (t) => {
  const lines = problems({})
  t.same(lines.map((l) => l.split(':')[0]), ['VOBIZ_AUTH_ID', 'VOBIZ_AUTH_TOKEN', 'CONSUMERS'])
  t.match(lines[2], /npm run keygen/)
  t.same(problems({ VOBIZ_SANDBOX: 'true' }), [], 'sandbox mode needs neither')
  t.match(problems({ VOBIZ_SANDBOX: 'maybe' }), [/^VOBIZ_SANDBOX: must be boolean \(got "maybe"\); expected true or false/], 'an unreadable VOBIZ_SANDBOX is the only problem reported')
})

t.test('secret values are never echoed', async (t) => {
  const secret = 'S3CRET-'.repeat(800)
  const lines = problems({ ...base, VOBIZ_AUTH_TOKEN: secret, CONSUMERS: `[{"name":"x","key_sha256":"${secret}"}]` })
  t.ok(lines.length >= 2)
  t.notOk(lines.join('\n').includes('S3CRET'), lines.join('\n'))
  t.match(lines.join('\n'), /VOBIZ_AUTH_TOKEN: .*\(value hidden\)/)
})

t.test('VOBIZ_BASE_URL must be https, or http on loopback, without credentials', async (t) => {
  t.equal(loadConfig({ ...base, VOBIZ_BASE_URL: 'http://127.0.0.1:8080' }).VOBIZ_BASE_URL, 'http://127.0.0.1:8080')
  t.equal(loadConfig({ ...base, VOBIZ_BASE_URL: 'https://proxy.internal/vobiz' }).VOBIZ_BASE_URL, 'https://proxy.internal/vobiz')
  t.match(problems({ ...base, VOBIZ_BASE_URL: 'http://api.vobiz.ai' })[0], /^VOBIZ_BASE_URL: http:\/\/api.vobiz.ai is not encrypted/)
  t.match(problems({ ...base, VOBIZ_BASE_URL: 'not a url' })[0], /^VOBIZ_BASE_URL: not a URL/)
  t.match(problems({ ...base, VOBIZ_BASE_URL: 'https://u:p@api.vobiz.ai' })[0], /must not contain credentials/)
  t.match(problems({ ...base, VOBIZ_BASE_URL: 'ftp://api.vobiz.ai' })[0], /is not encrypted/)
})

t.test('CONSUMERS is validated: JSON, shape, hash format, scopes, unique names and keys', async (t) => {
  const check = (value: unknown) => problems({ ...base, CONSUMERS: typeof value === 'string' ? value : JSON.stringify(value) })
  t.match(check('[{'), [/^CONSUMERS: not valid JSON/])
  t.match(check({}), [/^CONSUMERS: the top level must be array/])
  t.match(check([{ ...consumer, key_sha256: 'abc' }]), [/^CONSUMERS: entry \/0\/key_sha256 must match pattern/])
  t.match(check([{ ...consumer, scopes: ['admin'] }]), [/^CONSUMERS: entry \/0\/scopes\/0 /])
  t.match(check([{ ...consumer, scopes: [] }]), [/^CONSUMERS: entry \/0\/scopes /])
  t.match(check([{ ...consumer, extra: 1 }]), [/^CONSUMERS: entry \/0 /])
  t.match(check([consumer, { ...consumer, key_sha256: sha256Hex('other') }]), [/^CONSUMERS: consumer name "svc" appears twice/])
  t.match(check([consumer, { ...consumer, name: 'svc2' }]), [/^CONSUMERS: consumer "svc2" reuses another consumer's key_sha256/])
  t.same(check([{ ...consumer, key_sha256: consumer.key_sha256.toUpperCase(), rate_limit_per_minute: 60 }]), [], 'upper-case hex and a rate limit are fine')
})

t.test('CONSUMERS_FILE is read from disk, and only one of the two may be set', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'consumers-'))
  const file = join(dir, 'consumers.json')
  writeFileSync(file, JSON.stringify([consumer]))
  const { CONSUMERS: _unused, ...withoutInline } = base
  t.same(loadConfig({ ...withoutInline, CONSUMERS_FILE: file }).consumers, [consumer])
  t.match(problems({ ...withoutInline, CONSUMERS_FILE: join(dir, 'missing.json') }), [/^CONSUMERS_FILE: cannot read ".*missing.json" \(ENOENT\)/])
  t.match(problems({ ...base, CONSUMERS_FILE: file }), [/^CONSUMERS, CONSUMERS_FILE: both are set/])
})

t.test('.env.example documents every variable of the schema', async (t) => {
  const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
  for (const name of Object.keys(EnvSchema.properties)) {
    t.match(example, new RegExp(`^#? ?${name}=`, 'm'), name)
  }
})

t.test('docs/configuration.md and .env.example are exactly what `npm run docs` generates from the schema', async (t) => {
  const committed = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8')
  t.ok(committed === configurationReference(), 'docs/configuration.md is out of date: run `npm run docs` and commit the result')
  for (const name of Object.keys(EnvSchema.properties)) {
    t.match(committed, new RegExp(`^\\| \`${name}\``, 'm'), name)
  }
  const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
  t.ok(example === envExample(), '.env.example is out of date: run `npm run docs` and commit the result')
  const dir = mkdtempSync(join(tmpdir(), 'docs-'))
  const written = await writeDocs(dir)
  t.same(written.map((path) => readFileSync(path, 'utf8')), [committed, example], 'npm run docs writes those files')
})

t.test('JWT settings come all together, over a secure JWKS URL, with asymmetric algorithms only', async (t) => {
  const jwt = { JWT_JWKS_URL: 'https://login.example.com/jwks.json', JWT_ISSUER: 'https://login.example.com/', JWT_AUDIENCE: 'vobiz-bff' }
  const config = loadConfig({ ...base, ...jwt, JWT_ALGORITHMS: 'ES256, EdDSA' })
  t.same(config.jwtAlgorithms, ['ES256', 'EdDSA'])
  t.same(loadConfig(base).jwtAlgorithms, ['RS256', 'ES256', 'PS256', 'EdDSA'])
  t.match(problems({ ...base, JWT_ISSUER: 'x' }), [/^JWT_JWKS_URL, JWT_ISSUER, JWT_AUDIENCE: only JWT_ISSUER set; expected all three/])
  t.match(problems({ ...base, ...jwt, JWT_JWKS_URL: 'http://login.example.com/jwks' }), [/^JWT_JWKS_URL: http:\/\/login.example.com is not encrypted/])
  t.match(problems({ ...base, ...jwt, JWT_ALGORITHMS: 'RS256,HS256' }), [/^JWT_ALGORITHMS: "HS256" is not accepted; expected a comma-separated list of asymmetric/])
  t.match(problems({ ...base, JWT_ALGORITHMS: 'none' }), [/^JWT_ALGORITHMS: "none" is not accepted/])
  t.match(problems({ ...base, JWT_ALGORITHMS: ',' }), [/^JWT_ALGORITHMS: "" is not accepted/])
})

t.test('CORS_ORIGINS is a list of origins, or *', async (t) => {
  t.same(loadConfig(base).corsOrigins, [])
  t.same(loadConfig({ ...base, CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).corsOrigins, ['https://app.example.com', 'http://localhost:5173'])
  t.same(loadConfig({ ...base, CORS_ORIGINS: '*' }).corsOrigins, ['*'])
  t.match(problems({ ...base, CORS_ORIGINS: 'https://app.example.com/path' }), [/^CORS_ORIGINS: "https:\/\/app.example.com\/path" is not an origin/])
  t.match(problems({ ...base, CORS_ORIGINS: 'app.example.com' }), [/^CORS_ORIGINS: "app.example.com" is not an origin/])
  t.match(problems({ ...base, CORS_ORIGINS: '*,https://a.example' }), [/^CORS_ORIGINS: \* cannot be combined/])
})

t.test('REDIS_URL is a redis:// or rediss:// URL, never echoed (it may hold a password)', async (t) => {
  t.same(problems({ ...base, REDIS_URL: 'redis://:pw@127.0.0.1:6379/0' }), [])
  t.same(problems({ ...base, REDIS_URL: 'rediss://redis.internal:6380' }), [])
  for (const bad of ['http://:S3CRET@redis:6379', 'redis://', 'S3CRET']) {
    const lines = problems({ ...base, REDIS_URL: bad })
    t.match(lines, [/^REDIS_URL: not a redis:\/\/ or rediss:\/\/ URL \(value hidden\)/], bad)
    t.notOk(lines.join('\n').includes('S3CRET'))
  }
  t.match(problems({ ...base, REDIS_RATE_LIMIT_FALLBACK: 'maybe' }), [/^REDIS_RATE_LIMIT_FALLBACK: .*expected one of local, open, closed/])
  const config = loadConfig({ ...base })
  t.equal(config.REDIS_URL, undefined, 'unset by default: in-memory, per process')
  t.equal(config.REDIS_TIMEOUT_MS, 100)
  t.equal(config.REDIS_RATE_LIMIT_FALLBACK, 'local')
  t.equal(config.CACHE_L1_TTL_MS, 1000)
})

t.test('secrets from <NAME>_FILE: the file less its trailing line break; both forms, or an unreadable file, are named problems', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'))
  writeFileSync(join(dir, 'token'), 'token-from-a-file\r\n\n')
  writeFileSync(join(dir, 'redis'), 'redis://:pw-from-file@127.0.0.1:6379\n')
  const config = loadConfig({ VOBIZ_SANDBOX: 'true', VOBIZ_AUTH_TOKEN_FILE: join(dir, 'token'), REDIS_URL_FILE: join(dir, 'redis') })
  t.equal(config.VOBIZ_AUTH_TOKEN, 'token-from-a-file')
  t.equal(config.REDIS_URL, 'redis://:pw-from-file@127.0.0.1:6379')
  const error = t.throws(() => loadConfig({ VOBIZ_SANDBOX: 'true', VOBIZ_AUTH_ID: 'inline', VOBIZ_AUTH_ID_FILE: join(dir, 'token'), METRICS_TOKEN_FILE: join(dir, 'missing') })) as ConfigError
  t.same(error.problems, [
    'VOBIZ_AUTH_ID, VOBIZ_AUTH_ID_FILE: both are set; expected only one of them',
    `METRICS_TOKEN_FILE: cannot read ${JSON.stringify(join(dir, 'missing'))} (ENOENT); expected the path of a file holding METRICS_TOKEN`
  ])
  t.notMatch(error.message, /token-from-a-file/)
})

t.test('tracing is off unless the OTEL_* variables turn it on, the OpenTelemetry way', async (t) => {
  t.equal(loadConfig(base).tracing, undefined, 'off by default')
  t.same(loadConfig({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing, {
    url: 'http://collector:4318/v1/traces',
    protocol: 'http/protobuf',
    serviceName: 'vobiz-partner-bff',
    resourceAttributes: undefined,
    sampler: 'parentbased_always_on',
    samplerRatio: 1,
    batch: { maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMillis: 5000, exportTimeoutMillis: 30000 },
    timeoutMillis: 10000,
    redis: false
  }, 'an endpoint turns it on: the traces path appended, protobuf, the package name, sampled as the caller says, the OpenTelemetry default bounds')
  t.equal(loadConfig({ ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example/otlp/v1/traces', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318' }).tracing?.url, 'https://tempo.example/otlp/v1/traces', 'the traces endpoint is used as is, and wins')
  t.equal(loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'otlp' }).tracing?.url, 'http://localhost:4318/v1/traces', 'OTEL_TRACES_EXPORTER=otlp alone: the default receiver')
  t.equal(loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing, undefined, 'none wins over an endpoint')
  t.equal(loadConfig({ ...base, OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }).tracing, undefined, 'OTEL_SDK_DISABLED wins over everything')
  t.match(loadConfig({
    ...base,
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'billing-bff',
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0.25',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod',
    OTEL_BSP_MAX_QUEUE_SIZE: '100',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '10',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BSP_EXPORT_TIMEOUT: '3000',
    OTEL_EXPORTER_OTLP_TIMEOUT: '2000',
    OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '1000',
    REDIS_URL: 'redis://127.0.0.1:6379'
  }).tracing, {
    protocol: 'http/json',
    serviceName: 'billing-bff',
    sampler: 'parentbased_traceidratio',
    samplerRatio: 0.25,
    resourceAttributes: 'deployment.environment.name=prod',
    batch: { maxQueueSize: 100, maxExportBatchSize: 10, scheduledDelayMillis: 200, exportTimeoutMillis: 3000 },
    timeoutMillis: 1000,
    redis: true
  }, 'each variable is honoured')
  t.match(problems({ ...base, OTEL_TRACES_EXPORTER: 'otlp', OTEL_BSP_MAX_QUEUE_SIZE: '100', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '101' }), [/^OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 101 is more than OTEL_BSP_MAX_QUEUE_SIZE \(100\)/], 'a batch larger than the queue is refused')

  const refused = problems({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_TRACES_SAMPLER: 'sometimes', OTEL_TRACES_SAMPLER_ARG: '2' })
  t.match(refused, [
    /^OTEL_EXPORTER_OTLP_PROTOCOL: .*\(got "grpc"\); expected one of http\/protobuf, http\/json \(gRPC is not supported\)/,
    /^OTEL_TRACES_SAMPLER: /,
    /^OTEL_TRACES_SAMPLER_ARG: .*from 0 to 1/,
    /^OTEL_EXPORTER_OTLP_ENDPOINT: not an http:\/\/ or https:\/\/ URL/,
    /^OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: not an http:\/\/ or https:\/\/ URL/
  ], 'a bad value is a named start-up error, not a silent no-trace')
  const hidden = problems({ ...base, OTEL_EXPORTER_OTLP_HEADERS: 'x'.repeat(10), OTEL_SERVICE_NAME: '', OTEL_TRACES_SAMPLER_ARG: 'abc' })
  t.notOk(hidden.join('\n').includes('xxxxxxxxxx'), 'export headers are secrets')
})

t.test('BALANCE_THRESHOLDS: numbers, comma-separated; anything else is named', async (t) => {
  t.same(loadConfig({ ...base, BALANCE_THRESHOLDS: '10000, 1000,1000,,-5' }).balanceThresholds, [10000, 1000, -5], 'duplicates and empty items dropped')
  t.same(loadConfig(base).balanceThresholds, [])
  t.match(problems({ ...base, BALANCE_THRESHOLDS: '10000,ten' }), [/^BALANCE_THRESHOLDS: "ten" is not a number; expected /])
})
