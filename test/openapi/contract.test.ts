import t from 'tap'
import { contractViolations } from '../helpers/contract.ts'
import type { Reply } from '../helpers/harness.ts'

/** The response check the harness applies to every reply must be able to fail. */
function reply (status: number, headers: Record<string, string>, body: unknown): Reply {
  const text = body === undefined ? '' : JSON.stringify(body)
  return { status, headers, text, json: () => JSON.parse(text) }
}

const freshness = {
  'cache-control': 'private, max-age=4',
  age: '1',
  etag: '"abc"',
  'cache-status': 'vobiz-bff; hit; ttl=4',
  'x-request-id': 'r1',
  'content-type': 'application/json; charset=utf-8',
  'ratelimit-policy': '"default";q=600;w=60',
  ratelimit: '"default";r=599;t=60'
}
const balance = { partner_id: 'p', balance: 1, currency: 'INR', as_of: '2026-01-01T00:00:00.000Z' }
const problem = { type: 'urn:vobiz-bff:problem:missing_api_key', title: 'x', status: 401, detail: 'd', code: 'missing_api_key', request_id: 'r1' }
const problemHeaders = {
  'content-type': 'application/problem+json; charset=utf-8',
  'x-request-id': 'r1',
  'cache-control': 'no-store',
  'www-authenticate': 'ApiKey header="X-API-Key"',
  'ratelimit-policy': '"anonymous";q=30;w=60',
  ratelimit: '"anonymous";r=29;t=60'
}

t.test('a conforming reply passes', async (t) => {
  t.same(contractViolations('GET', '/profile/balance?x=1', reply(200, freshness, balance)), [])
  t.same(contractViolations('GET', '/profile/balance', reply(304, { ...freshness, 'content-type': '' }, undefined)), [])
  t.same(contractViolations('GET', '/profile', reply(401, problemHeaders, problem)), [])
  t.same(contractViolations('GET', '/nowhere', reply(404, problemHeaders, { ...problem, status: 404, code: 'not_found' })), [])
  t.same(contractViolations('GET', '/docs/static/index.html', reply(200, { 'content-type': 'text/html' }, 'html')), [], 'the docs routes are left out of the spec on purpose')
})

t.test('violations are reported', async (t) => {
  t.match(contractViolations('GET', '/profile/balance', reply(418, freshness, balance)), [/answered 418, which the spec does not list/])
  const { etag: _etag, ...noEtag } = freshness
  t.match(contractViolations('GET', '/profile/balance', reply(200, noEtag, balance)), [/lacks the ETag header/])
  t.match(contractViolations('GET', '/profile/balance', reply(200, { ...freshness, age: 'old' }, balance)), [/^Age: "old"/])
  t.match(contractViolations('GET', '/profile/balance', reply(200, freshness, { ...balance, auth_id: 'leak' })), [/must NOT have additional properties/])
  t.match(contractViolations('GET', '/profile/balance', reply(200, freshness, { ...balance, balance: '12.50' })), [/must be number/])
  t.match(contractViolations('GET', '/profile', reply(401, problemHeaders, { ...problem, code: 'upstream_timeout' })), [/must be equal to one of the allowed values/])
  t.match(contractViolations('GET', '/profile', reply(401, { ...problemHeaders, 'content-type': 'application/json' }, problem)), [/content type application\/json is not documented/])
  t.match(contractViolations('GET', '/profile', reply(304, freshness, balance)), [/should have no body/])
  t.match(contractViolations('GET', '/nowhere', reply(200, freshness, balance)), [/not in the spec/])
  t.match(contractViolations('GET', '/nowhere', reply(404, problemHeaders, { oops: true })), [/must have required property/])
})
