import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../src/config.ts'
import { enabledFeatures } from '../src/features.ts'

t.test('the start-up line says what is on, and no secret', async (t) => {
  t.match(enabledFeatures(loadConfig({ VOBIZ_SANDBOX: 'true' })), { auth: { apiKeys: 0, consumersFile: false, jwt: false }, cors: [], metrics: false, redis: false, sandbox: true })
  const config = loadConfig({
    VOBIZ_SANDBOX: 'true',
    JWT_JWKS_URL: 'https://issuer.example.com/jwks.json',
    JWT_ISSUER: 'https://issuer.example.com/',
    JWT_AUDIENCE: 'vobiz-bff',
    REDIS_URL: 'redis://:redis-secret-password@127.0.0.1:6379',
    METRICS_TOKEN: 'a-metrics-token-of-some-length',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'https://user:otlp-secret-password@collector.example.com',
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20otlp-header-secret'
  })
  const features = enabledFeatures(config)
  t.match(features, { auth: { jwt: { issuer: 'https://issuer.example.com/', audience: 'vobiz-bff' } }, redis: true, metrics: true, tracing: { protocol: 'http/protobuf', sampler: 'parentbased_always_on', serviceName: 'vobiz-partner-bff' } })
  t.notMatch(JSON.stringify(features), /redis-secret-password|a-metrics-token-of-some-length|otlp-secret-password|otlp-header-secret/)
})

t.test('webhook endpoints are listed by name, never by URL or secret', async (t) => {
  const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
  const dir = mkdtempSync(join(tmpdir(), 'features-'))
  t.teardown(() => { rmSync(dir, { recursive: true }) })
  writeFileSync(join(dir, 'webhooks.json'), JSON.stringify([{ name: 'billing-sync', url: 'https://billing.example/hooks?token=url-secret-token', events: ['billing'], secret }]))
  const features = enabledFeatures(loadConfig({ VOBIZ_SANDBOX: 'true', WEBHOOKS_FILE: join(dir, 'webhooks.json') }))
  t.same(features.webhooks, ['billing-sync'])
  t.notMatch(JSON.stringify(features), /url-secret-token|whsec_/)
})
