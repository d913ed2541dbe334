import t from 'tap'
import { freshnessHeaders, hitHeaders, matchesIfMatch, matchesIfNoneMatch, requestDirective } from '../../src/http/cache-headers.ts'
import { HIT } from '../../src/outcome.ts'

/** The rules of the cache's HTTP headers, one case per rule (the routes' tests show them on the wire). */

t.test('Cache-Control from the client: no-cache and max-age=0 force a refresh, only-if-cached wins over both', async (t) => {
  t.equal(requestDirective(undefined), undefined)
  t.equal(requestDirective('no-cache'), 'refresh')
  t.equal(requestDirective('NO-CACHE'), 'refresh', 'directives are case-insensitive')
  t.equal(requestDirective('  no-cache  '), 'refresh')
  t.equal(requestDirective('max-age=0'), 'refresh')
  t.equal(requestDirective('max-age = "000"'), 'refresh', 'a quoted, zero-padded, spaced 0')
  t.equal(requestDirective('max-age=10'), undefined, 'a lifetime above 0 accepts what is fresh')
  t.equal(requestDirective('max-age=01'), undefined)
  t.equal(requestDirective('s-max-age=0'), undefined, 'another directive ending in max-age=0')
  t.equal(requestDirective('max-age=0, x'), 'refresh')
  t.equal(requestDirective('max-age=00x'), undefined)
  t.equal(requestDirective('no-store'), undefined)
  t.equal(requestDirective('only-if-cached'), 'only-if-cached')
  t.equal(requestDirective('no-cache, only-if-cached'), 'only-if-cached', 'only-if-cached wins, after')
  t.equal(requestDirective('only-if-cached, no-cache'), 'only-if-cached', 'and before')
  t.equal(requestDirective('private, no-cache'), 'refresh', 'found after another directive')
})

t.test('If-Match: strong comparison; * matches; a weak tag never does', async (t) => {
  const etag = '"abc"'
  t.equal(matchesIfMatch('*', etag), true)
  t.equal(matchesIfMatch('"abc"', etag), true)
  t.equal(matchesIfMatch('"x", "abc"', etag), true, 'any listed tag')
  t.equal(matchesIfMatch('"x" ,"abc" ', etag), true)
  t.equal(matchesIfMatch('W/"abc"', etag), false)
  t.equal(matchesIfMatch('"x", "y"', etag), false)
  t.equal(matchesIfMatch('', etag), false)
})

t.test('If-None-Match: weak comparison; * matches; absent never does', async (t) => {
  const etag = '"abc"'
  t.equal(matchesIfNoneMatch(undefined, etag), false)
  t.equal(matchesIfNoneMatch('*', etag), true)
  t.equal(matchesIfNoneMatch('"abc"', etag), true)
  t.equal(matchesIfNoneMatch('W/"abc"', etag), true, 'a weak tag matches our strong one')
  t.equal(matchesIfNoneMatch('"x", W/"abc"', etag), true)
  t.equal(matchesIfNoneMatch('"x",  "abc"  ', etag), true)
  t.equal(matchesIfNoneMatch('"x", "y"', etag), false)
  t.equal(matchesIfNoneMatch('W/"x"', etag), false)
})

t.test('freshness headers: max-age is the whole lifetime, Age the true age in whole seconds, ttl their difference', async (t) => {
  t.same(freshnessHeaders(HIT, '"e"', 5_999, 30_999), {
    'cache-control': 'private, max-age=30',
    age: '5',
    etag: '"e"',
    'cache-status': 'vobiz-bff; hit; ttl=25'
  })
  t.equal(freshnessHeaders(HIT, '"e"', -500, 30_000).age, '0', 'a clock that went back never makes a negative Age')
  t.equal(freshnessHeaders(HIT, '"e"', -500, 30_000)['cache-status'], 'vobiz-bff; hit; ttl=30')
  t.equal(freshnessHeaders({ kind: 'stale', detail: 'stale-while-revalidate' }, '"e"', 35_000, 30_000)['cache-status'], 'vobiz-bff; hit; ttl=-5; detail=stale-while-revalidate', 'stale: a negative ttl')
})

t.test('Cache-Status names every outcome (RFC 9211)', async (t) => {
  const status = (outcome: Parameters<typeof freshnessHeaders>[0], refused = false) => freshnessHeaders(outcome, '"e"', 10_000, 30_000, refused)['cache-status']
  t.equal(status(HIT), 'vobiz-bff; hit; ttl=20')
  t.equal(status(HIT, true), 'vobiz-bff; hit; ttl=20; detail=refresh-refused')
  t.equal(status({ kind: 'hit', detail: 'refresh-failed' }), 'vobiz-bff; hit; ttl=20; detail=refresh-failed')
  t.equal(status({ kind: 'hit', detail: 'refresh-failed' }, true), 'vobiz-bff; hit; ttl=20; detail=refresh-failed', 'one detail: the failure')
  t.equal(status({ kind: 'fetched', fwd: 'miss', collapsed: false }), 'vobiz-bff; fwd=miss; fwd-status=200; stored; ttl=20')
  t.equal(status({ kind: 'fetched', fwd: 'stale', collapsed: true }), 'vobiz-bff; fwd=stale; fwd-status=200; collapsed; ttl=20')
  t.equal(status({ kind: 'fetched', fwd: 'request', collapsed: false }, true), 'vobiz-bff; fwd=request; fwd-status=200; stored; ttl=20; detail=refresh-refused')
  t.equal(status({ kind: 'stale', detail: 'stale-if-error' }), 'vobiz-bff; fwd=stale; ttl=20; detail=stale-if-error', 'forwarded, failed, the stale copy served')
  t.equal(status({ kind: 'stale', detail: 'breaker-open' }), 'vobiz-bff; hit; ttl=20; detail=breaker-open')
  t.equal(status({ kind: 'stale', detail: 'only-if-cached' }, true), 'vobiz-bff; hit; ttl=20; detail=only-if-cached', 'staleness takes the one detail slot')
})

t.test('a hit\'s headers are built once per representation and second of age, and never reused past either', async (t) => {
  const headersFor = hitHeaders(30_000, 'application/json')
  const first = headersFor('"one"', 2_000)
  t.same(first, { 'cache-control': 'private, max-age=30', age: '2', etag: '"one"', 'cache-status': 'vobiz-bff; hit; ttl=28', 'content-type': 'application/json' })
  t.equal(headersFor('"one"', 2_999), first, 'the same second: the same object')
  const older = headersFor('"one"', 3_000)
  t.match(older, { age: '3', etag: '"one"', 'cache-status': 'vobiz-bff; hit; ttl=27' }, 'a second later: Age and ttl move on')
  const changed = headersFor('"two"', 3_500)
  t.match(changed, { age: '3', etag: '"two"', 'cache-status': 'vobiz-bff; hit; ttl=27' }, 'new data within the same second: its own ETag')
  t.equal(headersFor('"two"', 3_900), changed)
  t.match(headersFor('"one"', 3_900), { etag: '"one"' }, 'and back')
})
