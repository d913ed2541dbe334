import t from 'tap'
import { clientAddress, clientNetwork, parseTrustProxy, trustProxyOption } from '../../src/http/client-address.ts'

t.test('TRUST_PROXY: false, true, a hop count, or a list of proxy addresses and ranges', async (t) => {
  t.equal(parseTrustProxy('false'), false)
  t.equal(parseTrustProxy('true'), true)
  t.equal(parseTrustProxy('2'), 2)
  t.same(parseTrustProxy(' 10.0.0.0/8, 192.168.1.7 ,loopback,2001:db8::/32 '), ['10.0.0.0/8', '192.168.1.7', 'loopback', '2001:db8::/32'])
  for (const bad of ['0', '101', 'yes', '10.0.0.0/33', '2001:db8::/129', '10.0.0.1/8/1', 'proxy.example', ',', '10.0.0.0/x']) {
    t.type(parseTrustProxy(bad), 'string', `${bad} is refused with a reason`)
  }
  const hops = trustProxyOption(2) as (address: string, hop: number) => boolean
  t.same([0, 1, 2].map((hop) => hops('10.0.0.1', hop)), [true, true, false], 'a hop count trusts that many hops from the socket')
  t.same(trustProxyOption(['loopback']), ['loopback'])
})

t.test('anonymous clients are counted per IPv4 address and per IPv6 /64', async (t) => {
  t.equal(clientNetwork('203.0.113.9'), '203.0.113.9')
  t.equal(clientNetwork('2001:db8:1:2::1'), '2001:db8:1:2::/64')
  t.equal(clientNetwork('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64', 'the whole /64 is one client')
  t.equal(clientNetwork('2001:db8:1:3::1'), '2001:db8:1:3::/64')
  t.equal(clientNetwork('::1'), '0:0:0:0::/64')
  t.equal(clientNetwork('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone id is ignored')
  t.equal(clientNetwork('::ffff:203.0.113.9'), '203.0.113.9', 'IPv4-mapped counts as the IPv4 address')
  t.equal(clientNetwork('::ffff:cb00:7109'), '203.0.113.9')
  t.equal(clientNetwork('64:ff9b::203.0.113.9'), '64:ff9b:0:0::/64')
})

t.test('the client is only ever an address: the chain ends at the first hop that is not one', async (t) => {
  t.equal(clientAddress({ ip: '203.0.113.9' }), '203.0.113.9', 'an address is taken as it is')
  t.equal(clientAddress({ ip: 'g1', ips: ['10.0.0.1', 'g1'] }), '10.0.0.1', 'the proxy that wrote it')
  t.equal(clientAddress({ ip: 'g1', ips: ['10.0.0.1', '203.0.113.9', 'g1'] }), '203.0.113.9', 'the last address before it')
  t.equal(clientAddress({ ip: '198.51.100.1', ips: ['10.0.0.1', 'g1', '198.51.100.1'] }), '198.51.100.1', 'taken as is when the farthest is an address (TRUST_PROXY trusted every hop)')
  t.equal(clientAddress({ ip: '1.2.3.4:80', ips: ['10.0.0.1', '1.2.3.4:80'] }), '1.2.3.4')
  t.equal(clientAddress({ ip: '[2001:db8::1]:8080', ips: ['10.0.0.1', '[2001:db8::1]:8080'] }), '2001:db8::1')
  for (const madeUp of ['010.0.0.9', '167772169', '1.2.3.4:', '1.2.3.4:123456', '[g::1]:80', '[1.2.3.4]:80x', '999.1.1.1:80', ' 1.2.3.4']) {
    t.equal(clientAddress({ ip: madeUp, ips: ['10.0.0.1', madeUp] }), '10.0.0.1', `${JSON.stringify(madeUp)} is not an address`)
  }
  t.equal(clientAddress({ ip: undefined }), 'unknown', 'a socket already closed')
  t.equal(clientAddress({ ip: undefined, ips: [] }), 'unknown')
})

t.test('TRUST_PROXY, one rule per case', async (t) => {
  t.equal(parseTrustProxy(' true '), true, 'trimmed')
  t.equal(parseTrustProxy('1'), 1)
  t.equal(parseTrustProxy('10'), 10, 'a hop count of two digits')
  t.equal(parseTrustProxy('100'), 100, 'at most 100')
  t.equal(parseTrustProxy('0'), '0 is not a hop count from 1 to 100')
  t.equal(parseTrustProxy('101'), '101 is not a hop count from 1 to 100')
  t.same(parseTrustProxy('linklocal'), ['linklocal'])
  t.same(parseTrustProxy('uniquelocal'), ['uniquelocal'])
  t.same(parseTrustProxy('10.0.0.1,'), ['10.0.0.1'], 'a trailing comma')
  t.same(parseTrustProxy(' 10.0.0.1 ,  10.0.0.2'), ['10.0.0.1', '10.0.0.2'], 'spaces around entries')
  t.equal(parseTrustProxy(' , '), 'it is empty')
  t.same(parseTrustProxy('10.0.0.1/32'), ['10.0.0.1/32'], 'an IPv4 /32')
  t.same(parseTrustProxy('2001:db8::/48'), ['2001:db8::/48'], 'an IPv6 prefix past 32')
  t.same(parseTrustProxy('2001:db8::1/128'), ['2001:db8::1/128'])
  for (const bad of ['10.0.0.0/8x', '10.0.0.0/x8', '10.0.0.0/ 8', '10.0.0.0/8e0', '10.0.0.0/', '::/129', '10.0.0.0/33']) {
    t.equal(parseTrustProxy(bad), `${JSON.stringify(bad)} is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal`, bad)
  }
})

t.test('client addresses, one rule per case', async (t) => {
  t.equal(clientAddress({ ip: 'g1', ips: ['10.0.0.1', '10.20.30.40:8080', 'g1'] }), '10.20.30.40', 'every octet up to three digits')
  t.equal(clientAddress({ ip: 'x1.2.3.4:80', ips: ['10.0.0.1', 'x1.2.3.4:80'] }), '10.0.0.1', 'text before an address with a port')
  t.equal(clientAddress({ ip: 'g1', ips: undefined }), 'unknown', 'no chain and no address')
})

t.test('IPv6 networks, one rule per case', async (t) => {
  t.equal(clientNetwork('2001:db8:0:1:0:ffff:cb00:7109'), '2001:db8:0:1::/64', 'ffff in the sixth group of an ordinary address is not IPv4-mapped')
  t.equal(clientNetwork('2001::1:2:3:4:5:6'), '2001:0:1:2::/64', '`::` stands for as many groups as are missing')
  t.equal(clientNetwork('0:0:0:0:0:ffff::'), '0.0.0.0', 'a trailing `::`')
  t.equal(clientNetwork('::ffff:203.0.113.9%eth0'), '203.0.113.9', 'a zone id after an IPv4 tail')
})
