import t from 'tap'
import { startSandbox } from '../../src/sandbox/sandbox.ts'
import { httpGet } from '../helpers/harness.ts'

t.test('the sandbox checks credentials and answers in each documented error form', async (t) => {
  const sandbox = await startSandbox({ authId: 'MA_TEST', authToken: 'tok' })
  t.teardown(() => sandbox.close())
  const url = `${sandbox.url}/api/v1/partner/me`
  const ok = await httpGet(url, { 'x-auth-id': 'MA_TEST', 'x-auth-token': 'tok' })
  t.equal(ok.status, 200)
  t.equal(ok.json().id, 'partner-882abc')

  const nested = await httpGet(url, { 'x-auth-id': 'MA_TEST', 'x-auth-token': 'wrong' })
  t.equal(nested.status, 401)
  t.match(nested.json(), { status: 'error', error: { code: 'INVALID_CREDENTIALS' }, requestId: /^req_/ })
  sandbox.errorForm = 'flat'
  t.match((await httpGet(url)).json(), { error: 'invalid_credentials', message: String })
  sandbox.errorForm = 'plivo'
  t.match((await httpGet(url, { 'x-auth-id': 'MA_TEST' })).json(), { api_id: /^[0-9a-f]{16}$/, error: String })

  const post = await httpGet(url, {}, 'POST')
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET')
  t.equal((await httpGet(`${sandbox.url}/other`)).status, 404)
  t.equal(sandbox.requests, 5, 'only the partner route is counted')
  t.equal(sandbox.recorded.length, 6, 'every request is recorded')
  for (let i = 0; i < 50; i++) await httpGet(`${sandbox.url}/other?i=${i}`)
  t.equal(sandbox.recorded.length, 50, 'the record keeps the latest 50')
  t.equal(sandbox.recorded[49]?.url, '/other?i=49')
})

t.test('the simulated balance moves with time; the current shape sends it as a 5-decimal string', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z')
  const sandbox = await startSandbox({ now: () => now })
  t.teardown(() => sandbox.close())
  t.equal(sandbox.balance(), 48250)
  now += 10_000
  t.equal(sandbox.balance(), 48242.5)
  t.equal(sandbox.profile().updated_at, '2026-01-01T00:00:10.000Z')
  sandbox.shape = 'current'
  t.equal(sandbox.profile().balance, '48242.50000')
  t.equal(sandbox.profile().auth_id, sandbox.authId)
})

t.test('faults apply in order, each for its count, and clear', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const headers = { 'x-auth-id': sandbox.authId, 'x-auth-token': sandbox.authToken }
  const url = `${sandbox.url}/api/v1/partner/me`
  sandbox.inject({ kind: 'status', status: 503 }, 2).inject({ kind: 'body', body: { hello: 'world' } }, 1)
  t.equal((await httpGet(url, headers)).status, 503)
  t.equal((await httpGet(url, headers)).status, 503)
  t.same((await httpGet(url, headers)).json(), { hello: 'world' })
  t.equal((await httpGet(url, headers)).status, 200)
  sandbox.inject({ kind: 'malformed' })
  const malformed = (await httpGet(url, headers)).text
  t.throws(() => JSON.parse(malformed), SyntaxError)
  t.equal((await httpGet(url, headers)).text, malformed, 'a fault without a count stays until cleared')
  sandbox.clearFaults()
  t.equal((await httpGet(url, headers)).json().id, 'partner-882abc')
})

t.test('hold() keeps requests unanswered, in order, until release(); received(n) says when they arrived', async (t) => {
  const sandbox = await startSandbox()
  t.teardown(() => sandbox.close())
  const url = `${sandbox.url}/api/v1/partner/me`
  const auth = { 'x-auth-id': sandbox.authId, 'x-auth-token': sandbox.authToken }
  t.equal(sandbox.release(), sandbox, 'releasing when nothing is held does nothing')
  sandbox.hold().inject({ kind: 'status', status: 503 }, 1)
  let answered = 0
  const first = httpGet(url, auth).finally(() => { answered += 1 })
  const second = httpGet(url, auth).finally(() => { answered += 1 })
  await sandbox.received(2)
  await sandbox.received(1)
  t.equal(answered, 0, 'both arrived and neither is answered while held')
  sandbox.release()
  t.same([(await first).status, (await second).status], [503, 200], 'each answered with the fault it drew on arrival')
  t.equal((await httpGet(url, auth)).status, 200, 'after release, requests are answered at once')
})
