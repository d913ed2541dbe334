import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { ConsumerRegistry, sha256Hex } from '../../src/consumers.ts'
import { enterSandboxMode } from '../../src/sandbox/sandbox-mode.ts'

t.test('without consumers, sandbox mode creates a demo consumer whose key is returned once', async (t) => {
  const mode = await enterSandboxMode(loadConfig({ VOBIZ_SANDBOX: 'true', VOBIZ_BASE_URL: 'https://api.vobiz.ai' }))
  t.teardown(() => mode.sandbox.close())
  t.equal(mode.config.VOBIZ_BASE_URL, mode.sandbox.url, 'the service is pointed at the sandbox')
  t.match(mode.sandbox.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'on a loopback port')
  t.equal(mode.config.VOBIZ_AUTH_ID, mode.sandbox.authId)
  t.equal(mode.config.VOBIZ_AUTH_TOKEN, mode.sandbox.authToken)
  t.match(mode.config.consumers, [{ name: 'demo', scopes: ['profile:read'] }])
  t.equal(new ConsumerRegistry(mode.config.consumers).authenticate(mode.demoKey as string)?.name, 'demo')
})

t.test('configured consumers and credentials are kept in sandbox mode', async (t) => {
  const consumers = [{ name: 'mine', key_sha256: sha256Hex('my-key'), scopes: ['balance:read'] }]
  const mode = await enterSandboxMode(loadConfig({
    VOBIZ_SANDBOX: 'true',
    VOBIZ_AUTH_ID: 'MA_MINE',
    VOBIZ_AUTH_TOKEN: 'my-token',
    CONSUMERS: JSON.stringify(consumers)
  }))
  t.teardown(() => mode.sandbox.close())
  t.equal(mode.demoKey, undefined, 'no demo key')
  t.same(mode.config.consumers, consumers)
  t.equal(mode.sandbox.authId, 'MA_MINE')
  t.equal(mode.sandbox.authToken, 'my-token')
})
