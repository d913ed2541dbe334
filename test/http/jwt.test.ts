import t, { type Test } from 'tap'
import { startHarness, type Harness } from '../helpers/harness.ts'
import { startIssuer } from '../helpers/issuer.ts'
import { movableClock } from '../helpers/time.ts'

async function setup (t: Test, env: Record<string, string> = {}) {
  const issuer = await startIssuer(t)
  const h = await startHarness(t, {
    env: {
      JWT_JWKS_URL: issuer.url,
      JWT_ISSUER: 'https://login.example.test/',
      JWT_AUDIENCE: 'vobiz-bff',
      JWT_JWKS_COOLDOWN_SECONDS: '0',
      ...env
    }
  })
  return { issuer, h }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function refused (t: Test, h: Harness, token: string, reason: RegExp) {
  const res = await h.get('/profile', bearer(token))
  t.equal(res.status, 401)
  t.equal(res.json().code, 'invalid_token')
  t.match(res.json().detail, reason)
  t.equal(res.headers['www-authenticate'], 'Bearer error="invalid_token"')
}

t.test('a valid token is accepted; scopes come from `scope` or `scp`', async (t) => {
  const { issuer, h } = await setup(t)
  await issuer.addKey('k1')
  const res = await h.get('/profile', bearer(await issuer.sign({ sub: 'user-1', scope: 'openid profile:read' })))
  t.equal(res.status, 200)
  t.equal(res.json().id, 'partner-882abc')
  t.match(h.logs.find((l) => l.msg === 'request' && l.status === 200), { consumer: 'user-1' })

  const scp = await h.get('/profile/balance', bearer(await issuer.sign({ sub: 'user-2', scp: ['balance:read'] })))
  t.equal(scp.status, 200)
  const scpString = await h.get('/profile/balance', bearer(await issuer.sign({ sub: 'user-3', scp: 'balance:read' })))
  t.equal(scpString.status, 200)
  t.equal(issuer.fetches(), 1, 'the JWKS is fetched once and cached')
})

t.test('a token without the scope is 403', async (t) => {
  const { issuer, h } = await setup(t)
  await issuer.addKey('k1')
  const res = await h.get('/profile', bearer(await issuer.sign({ sub: 'user-1', scope: 'balance:read' })))
  t.equal(res.status, 403)
  t.equal(res.json().code, 'insufficient_scope')
  t.match(res.json().detail, /the token does not grant it/)
  t.equal((await h.get('/profile', bearer(await issuer.sign({ sub: 'user-1' })))).status, 403, 'no scope claim at all')
})

t.test('expired, not yet valid, wrong audience, wrong issuer, no subject: refused', async (t) => {
  // Time stands still (jose reads Date.now()): "expired 2 s ago" stays 2 s however slow the machine is.
  movableClock(t)
  const { issuer, h } = await setup(t, { JWT_CLOCK_TOLERANCE_SECONDS: '5' })
  await issuer.addKey('k1')
  const now = Math.floor(Date.now() / 1000)
  await refused(t, h, await issuer.sign({ sub: 'u', scope: 'profile:read' }, { exp: now - 60 }), /expired/)
  await refused(t, h, await issuer.sign({ sub: 'u', scope: 'profile:read' }, { nbf: now + 120 }), /nbf claim is not accepted/)
  await refused(t, h, await issuer.sign({ sub: 'u', scope: 'profile:read' }, { aud: 'someone-else' }), /aud claim is not accepted/)
  await refused(t, h, await issuer.sign({ sub: 'u', scope: 'profile:read' }, { iss: 'https://evil.example/' }), /iss claim is not accepted/)
  await refused(t, h, await issuer.sign({ scope: 'profile:read' }), /sub claim is not accepted/)
  await refused(t, h, await issuer.sign({ sub: '', scope: 'profile:read' }), /no usable sub/)
  const skewed = await h.get('/profile', bearer(await issuer.sign({ sub: 'u', scope: 'profile:read' }, { exp: now - 2 })))
  t.equal(skewed.status, 200, 'a token expired within the clock tolerance is still accepted')
})

t.test('an unknown kid refetches the JWKS, so a rotated key works; a kid never published stays refused', async (t) => {
  const { issuer, h } = await setup(t)
  const first = await issuer.addKey('k1')
  t.equal((await h.get('/profile', bearer(await issuer.sign({ sub: 'u', scope: 'profile:read' }, { kid: 'k1' })))).status, 200)
  t.equal(issuer.fetches(), 1)

  const second = await issuer.addKey('k2', 'ES256')
  issuer.publishOnly(['k2'], [first, second])
  const rotated = await h.get('/profile', bearer(await issuer.sign({ sub: 'u', scope: 'profile:read' }, { kid: 'k2' })))
  t.equal(rotated.status, 200, 'the new key was fetched on demand')
  t.equal(issuer.fetches(), 2)

  await issuer.addKey('k3', 'RS256', false)
  await refused(t, h, await issuer.sign({ sub: 'u', scope: 'profile:read' }, { kid: 'k3' }), /key the issuer does not publish/)
})

t.test('alg none, HS256 signed with the public key, a tampered payload and garbage are refused', async (t) => {
  const { issuer, h } = await setup(t)
  const jwk = await issuer.addKey('k1')
  const valid = await issuer.sign({ sub: 'u', scope: 'balance:read' })
  const [header, payload, signature] = valid.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())

  await refused(t, h, `${b64({ alg: 'none', kid: 'k1' })}.${b64({ ...claims, scope: 'profile:read' })}.`, /malformed, unsigned, or its signature does not verify/)

  const { createHmac } = await import('node:crypto')
  const hsHeader = b64({ alg: 'HS256', kid: 'k1' })
  const hsPayload = b64({ ...claims, scope: 'profile:read' })
  const hsSignature = createHmac('sha256', JSON.stringify(jwk)).update(`${hsHeader}.${hsPayload}`).digest('base64url')
  await refused(t, h, `${hsHeader}.${hsPayload}.${hsSignature}`, /signature does not verify/)

  await refused(t, h, `${header}.${b64({ ...claims, scope: 'profile:read' })}.${signature}`, /signature does not verify/)
  await refused(t, h, 'not.a.jwt', /malformed/)
  await refused(t, h, 'x', /malformed/)
  t.equal((await h.get('/profile/balance', bearer(valid))).status, 200, 'the untampered token still works')
})

t.test('JWT users are rate-limited per sub; an API key wins when both are sent', async (t) => {
  const { issuer, h } = await setup(t, { RATE_LIMIT_PER_MINUTE: '2' })
  await issuer.addKey('k1')
  const alice = await issuer.sign({ sub: 'alice', scope: 'profile:read' })
  const statuses = []
  for (let i = 0; i < 3; i++) statuses.push((await h.get('/profile', bearer(alice))).status)
  t.same(statuses, [200, 200, 429])
  t.equal((await h.get('/profile', bearer(await issuer.sign({ sub: 'bob', scope: 'profile:read' })))).status, 200, 'bob has his own budget')
  const both = await h.get('/profile', { ...bearer(alice), 'x-api-key': h.keys.profile })
  t.equal(both.status, 200)
  t.match(h.logs.filter((l) => l.msg === 'request').at(-1), { consumer: 'reader' })
})

t.test('without JWT configuration, bearer tokens are not accepted and the challenge names the key only', async (t) => {
  const h = await startHarness(t)
  const res = await h.get('/profile', { authorization: 'Bearer whatever' })
  t.equal(res.status, 401)
  t.equal(res.json().code, 'missing_api_key')
  t.equal(res.headers['www-authenticate'], 'ApiKey header="X-API-Key"')
})

t.test('with JWT configured, a request without credentials is told about both schemes', async (t) => {
  const { h } = await setup(t)
  const res = await h.get('/profile/balance')
  t.equal(res.status, 401)
  t.match(res.json(), { code: 'missing_api_key', detail: /X-API-Key header or an Authorization: Bearer token/ })
  t.equal(res.headers['www-authenticate'], 'ApiKey header="X-API-Key", Bearer')
})
