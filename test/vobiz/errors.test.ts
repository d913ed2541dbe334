import t from 'tap'
import { asUpstreamError, breaksCircuit, coolDownMs, UpstreamError } from '../../src/vobiz/errors.ts'

t.test('which failures open the breaker and which start a cool-down', async (t) => {
  const failed = new UpstreamError('upstream_unavailable', 'vobiz answered 503')
  const limited = new UpstreamError('upstream_rate_limited', 'vobiz answered 429', { retryAfterSeconds: 7 })
  const open = new UpstreamError('upstream_unavailable', 'the circuit breaker is open', { shortCircuit: 'breaker-open' })
  const cooling = new UpstreamError('upstream_rate_limited', 'holding off', { retryAfterSeconds: 3, shortCircuit: 'cooling-down' })
  t.same([failed, limited, open, cooling].map(breaksCircuit), [true, false, false, false], 'only Vobiz failing counts, not its 429 or a short circuit')
  t.same([failed, limited, open, cooling].map(coolDownMs), [0, 7000, 0, 0], 'only a 429 Vobiz sent starts a cool-down, for its Retry-After')
  t.equal(coolDownMs(new UpstreamError('upstream_rate_limited', '429 without Retry-After')), 1000, 'one second without a Retry-After')
})

t.test('asUpstreamError: an UpstreamError as it is; anything else (a bug) becomes upstream_unavailable with it as the cause', async (t) => {
  const known = new UpstreamError('upstream_timeout', 'slow')
  t.equal(asUpstreamError(known), known)
  const bug = new TypeError('x is undefined')
  t.match(asUpstreamError(bug), { name: 'UpstreamError', code: 'upstream_unavailable', message: 'unexpected failure: x is undefined', cause: bug })
  t.match(asUpstreamError('a string'), { code: 'upstream_unavailable', message: 'unexpected failure: a string' })
})
