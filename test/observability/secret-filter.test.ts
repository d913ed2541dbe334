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
