import t from 'tap'
import { editDistance, unknownVariables } from '../src/config-hygiene.ts'
import { ConfigError, EnvSchema, loadConfig } from '../src/config.ts'

const KNOWN = Object.keys(EnvSchema.properties)

t.test('edit distance', async (t) => {
  t.equal(editDistance('PROFILE_TTL_SECOND', 'PROFILE_TTL_SECONDS'), 1)
  t.equal(editDistance('HOME', 'HOST'), 2)
  t.equal(editDistance('kitten', 'sitting'), 3)
  t.equal(editDistance('', 'abc'), 3)
  t.ok(editDistance('PORT', 'VOBIZ_AUTH_TOKEN', 2) > 2, 'stops early past the bound')
})

t.test('a variable meant for this service but not one of its own is named, with the closest one', async (t) => {
  const env = {
    PROFILE_TTL_SECOND: '5',
    VOBIZ_AUTH_TOKN: 'x',
    VOBIZ_TIMEOUT: '3',
    POTR: '1',
    // Not ours, and not like ours: a machine's usual variables, and what Kubernetes injects for a Service.
    HOME: '/root',
    PATH: '/usr/bin',
    HOSTNAME: 'pod-1',
    NODE_ENV: 'production',
    VOBIZ_BFF_SERVICE_HOST: '10.0.0.1',
    VOBIZ_BFF_SERVICE_PORT: '80',
    VOBIZ_BFF_SERVICE_PORT_HTTP: '80',
    VOBIZ_BFF_PORT: 'tcp://10.0.0.1:80',
    VOBIZ_BFF_PORT_80_TCP_ADDR: '10.0.0.1',
    // Ours.
    PROFILE_TTL_SECONDS: '30',
    PORT: '3000'
  }
  t.same(unknownVariables(env, KNOWN), [
    'PROFILE_TTL_SECOND is not a variable of this service and is ignored; did you mean PROFILE_TTL_SECONDS?',
    'VOBIZ_AUTH_TOKN is not a variable of this service and is ignored; did you mean VOBIZ_AUTH_TOKEN?',
    'VOBIZ_TIMEOUT is not a variable of this service and is ignored; they are listed in docs/configuration.md'
  ])
})

t.test('loadConfig: warnings by default, a start-up error with STRICT_CONFIG=true', async (t) => {
  const config = loadConfig({ VOBIZ_SANDBOX: 'true', BALANCE_TTL_SECOND: '1' })
  t.same(config.warnings, ['BALANCE_TTL_SECOND is not a variable of this service and is ignored; did you mean BALANCE_TTL_SECONDS?'])
  t.equal(config.BALANCE_TTL_SECONDS, 5, 'the misspelt one is not taken')
  const error = t.throws(() => loadConfig({ VOBIZ_SANDBOX: 'true', BALANCE_TTL_SECOND: '1', STRICT_CONFIG: 'true' })) as ConfigError
  t.same(error.problems, ['BALANCE_TTL_SECOND is not a variable of this service (STRICT_CONFIG=true: start-up stops); did you mean BALANCE_TTL_SECONDS?'])
  const prefixed = t.throws(() => loadConfig({ VOBIZ_SANDBOX: 'true', VOBIZ_TIMEOUT: '1', STRICT_CONFIG: 'true' })) as ConfigError
  t.same(prefixed.problems, ['VOBIZ_TIMEOUT is not a variable of this service (STRICT_CONFIG=true: start-up stops); they are listed in docs/configuration.md'], 'never "is ignored" when it stops start-up')
  t.same(loadConfig({ VOBIZ_SANDBOX: 'true', STRICT_CONFIG: 'true' }).warnings, [])
})
