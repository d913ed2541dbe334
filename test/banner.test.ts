import t from 'tap'
import { displayUrl, sandboxBanner } from '../src/banner.ts'

t.test('displayUrl shows a wildcard listen address as localhost and brackets IPv6', async (t) => {
  t.equal(displayUrl('0.0.0.0', 3000), 'http://localhost:3000')
  t.equal(displayUrl('::', 3000), 'http://localhost:3000')
  t.equal(displayUrl('::1', 8080), 'http://[::1]:8080')
  t.equal(displayUrl('10.1.2.3', 80), 'http://10.1.2.3:80')
})

t.test('the sandbox banner gives the demo key and working curl lines, or points at CONSUMERS', async (t) => {
  const withKey = sandboxBanner('http://localhost:3000', 'KEY123')
  t.match(withKey, /Demo API key.*: KEY123\n/)
  t.match(withKey, /curl -s -H 'X-API-Key: KEY123' http:\/\/localhost:3000\/profile\n/)
  t.match(withKey, /curl -s -H 'X-API-Key: KEY123' http:\/\/localhost:3000\/profile\/balance\n/)
  const configured = sandboxBanner('http://localhost:3000', undefined)
  t.match(configured, /Consumers come from CONSUMERS \/ CONSUMERS_FILE/)
  t.notMatch(configured, /curl/)
  t.notMatch(withKey, /Loopback only/)
  t.match(sandboxBanner('http://127.0.0.1:3000', 'KEY123'), /listening on http:\/\/127\.0\.0\.1:3000\n\s+Loopback only: the demo key is not reachable from other machines/)
})
