import t from 'tap'
import { parseHoldOff } from '../../src/redis/hold-off-store.ts'
import { parseFailure } from '../../src/redis/shared-cache.ts'

t.test('a failure record read from Redis is used only when it has the shape this version writes', async (t) => {
  const record = { token: 't1', code: 'upstream_timeout', message: 'no complete answer within 2500 ms', retryAfterSeconds: 1, shortCircuit: 'breaker-open' }
  t.same(parseFailure(JSON.stringify(record)), record)
  t.same(parseFailure(JSON.stringify({ token: 't1', code: 'upstream_auth_failed', message: 'vobiz answered 401' })), { token: 't1', code: 'upstream_auth_failed', message: 'vobiz answered 401' })
  for (const bad of [null, 'not json', '42', '{"token":"t1","message":"m"}', '{"token":"t1","code":"some_future_code","message":"m"}', '{"token":"t1","code":"upstream_timeout","message":"m","shortCircuit":"maybe"}']) {
    t.equal(parseFailure(bad), undefined, String(bad))
  }
})

t.test('a breaker / cool-down state read from Redis is used only when it has the shape this version writes', async (t) => {
  const state = { failures: 3, openUntil: 1_700_000_010_000, coolingDownUntil: 0 }
  t.same(parseHoldOff(JSON.stringify(state)), state)
  for (const bad of [null, 'not json', '[]', '{"failures":-1,"openUntil":0,"coolingDownUntil":0}', '{"failures":1,"openUntil":"soon","coolingDownUntil":0}', '{"failures":1}']) {
    t.equal(parseHoldOff(bad), undefined, String(bad))
  }
})
