import t from 'tap'
import { ConsumerRegistry, generateApiKey, hasAnyScope, sha256Hex, type Consumer } from '../src/consumers.ts'

t.test('the registry finds a consumer by key through its SHA-256, and nothing else', async (t) => {
  const keys = [generateApiKey(), generateApiKey()]
  const consumers: Consumer[] = [
    { name: 'a', key_sha256: sha256Hex(keys[0] as string), scopes: ['profile:read'] },
    { name: 'b', key_sha256: sha256Hex(keys[1] as string).toUpperCase(), scopes: ['balance:read'] }
  ]
  const registry = new ConsumerRegistry(consumers)
  t.equal(registry.size, 2)
  t.equal(registry.authenticate(keys[0] as string)?.name, 'a')
  t.equal(registry.authenticate(keys[1] as string)?.name, 'b', 'upper-case digests work')
  t.equal(registry.authenticate(sha256Hex(keys[0] as string)), undefined, 'the digest itself is not a key')
  t.equal(registry.authenticate(''), undefined)
  t.equal(registry.authenticate('x'.repeat(257)), undefined)
  t.equal(registry.authenticate(`${keys[0] as string} `), undefined)
})

t.test('generated keys are 256-bit base64url and unique', async (t) => {
  const keys = new Set(Array.from({ length: 100 }, generateApiKey))
  t.equal(keys.size, 100)
  for (const key of keys) t.match(key, /^[A-Za-z0-9_-]{43}$/)
})

t.test('scopes', async (t) => {
  const consumer: Consumer = { name: 'a', key_sha256: sha256Hex('k'), scopes: ['balance:read'] }
  t.ok(hasAnyScope(consumer, ['profile:read', 'balance:read']))
  t.notOk(hasAnyScope(consumer, ['profile:read']))
})
