import t from 'tap'
import { generateApiKey, sha256Hex } from '../../src/consumers.ts'
import { SecretFilter } from '../../src/observability/secret-filter.ts'

t.test('every configured secret and consumer key is replaced, raw or JSON-escaped; other text is left alone', async (t) => {
  const key = generateApiKey()
  const quoted = 'tok"en\\with-escapes'
  const filter = new SecretFilter({
    secrets: ['MA_AUTHID_0001', 'vobiz-token-abcdef', quoted, undefined, 'short'],
    keyDigests: [sha256Hex(key).toUpperCase()]
  })
  const line = JSON.stringify({ msg: `failed: MA_AUTHID_0001 / vobiz-token-abcdef / ${quoted} / ${key} / short`, reqId: '3f2a5c1e-8b7d-4e0f-9a6b-1c2d3e4f5a6b' })
  const scrubbed = filter.scrub(line)
  t.same(JSON.parse(scrubbed), {
    msg: 'failed: [redacted] / [redacted] / [redacted] / [redacted] / short',
    reqId: '3f2a5c1e-8b7d-4e0f-9a6b-1c2d3e4f5a6b'
  }, 'secrets shorter than 8 characters are not searched for (they would garble the logs)')
  t.equal(filter.scrub('nothing to hide'), 'nothing to hide')
  t.equal(new SecretFilter({ secrets: [], keyDigests: [] }).scrub(`${key}`), key, 'no consumers: no key is recognised')
})

t.test('contains: the same recognition as scrub, as a yes or no, for every value a consumer may receive', async (t) => {
  const key = generateApiKey()
  const quoted = 'tok"en\\with-escapes'
  const filter = new SecretFilter({ secrets: ['vobiz-token-abcdef', quoted, undefined, 'short'], keyDigests: [sha256Hex(key)] })
  t.ok(filter.contains('Acme vobiz-token-abcdef Ltd'), 'a secret inside other text')
  t.ok(filter.contains(quoted), 'raw')
  t.ok(filter.contains(JSON.stringify(quoted)), 'JSON-escaped')
  t.ok(filter.contains(`${key}@acme.example`), 'a consumer key, recognised by its digest')
  t.ok(filter.contains(`ref_${key}`), 'an issued key inside a longer run of the key alphabet')
  t.ok(filter.contains(`${'x'.repeat(300)}${key}`), 'even one past the 256 characters a run is cut at')
  t.notOk(filter.contains(`ref_${generateApiKey()}_${'x'.repeat(100)}`), 'a long run holding no key')
  t.notOk(filter.contains('Acme Telecom Pvt Ltd'))
  t.notOk(filter.contains('short'), 'values under 8 characters are not searched for')
  t.notOk(filter.contains(generateApiKey()), 'a key-shaped run that is no consumer\'s key')
  t.notOk(new SecretFilter({ secrets: [], keyDigests: [] }).contains(key), 'no consumers: no key is recognised')
  filter.add(['rotated-token-0123'])
  filter.addKeyDigests([sha256Hex('k'.repeat(40))])
  t.ok(filter.contains('x rotated-token-0123'), 'a secret added later (a rotation)')
  t.ok(filter.contains('k'.repeat(40)), 'a key added later (a consumers reload)')
})
