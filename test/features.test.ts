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
    METRICS_TOKEN: 'a-metrics-token-of-some-length'
  })
  const features = enabledFeatures(config)
  t.match(features, { auth: { jwt: { issuer: 'https://issuer.example.com/', audience: 'vobiz-bff' } }, redis: true, metrics: true })
  t.notMatch(JSON.stringify(features), /redis-secret-password|a-metrics-token-of-some-length/)
})
