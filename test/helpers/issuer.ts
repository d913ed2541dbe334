import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import type { Test } from 'tap'

/** An issuer: key pairs generated here, published as a JWKS from a loopback server that counts its fetches. */
export async function startIssuer (t: Test) {
  const keys: Array<{ kid: string, privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'], alg: string }> = []
  let published: JWK[] = []
  let fetches = 0
  const server = createServer((_req, res) => {
    fetches += 1
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: published }))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close(); server.closeAllConnections() })

  const addKey = async (kid: string, alg = 'RS256', publish = true) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
    keys.push({ kid, privateKey, alg })
    const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }
    if (publish) published.push(jwk)
    return jwk
  }
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    fetches: () => fetches,
    addKey,
    publishOnly: (kids: string[], all: JWK[]) => { published = all.filter((k) => kids.includes(String(k.kid))) },
    async sign (claims: Record<string, unknown>, options: { kid?: string, iss?: string, aud?: string, exp?: number | string, nbf?: number } = {}) {
      const key = keys.find((k) => k.kid === (options.kid ?? keys[0]?.kid)) ?? keys[0]!
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .setIssuer(options.iss ?? 'https://login.example.test/')
        .setAudience(options.aud ?? 'vobiz-bff')
        .setIssuedAt()
        .setExpirationTime(options.exp ?? '5m')
      if (options.nbf !== undefined) jwt.setNotBefore(options.nbf)
      return jwt.sign(key.privateKey)
    }
  }
}
