import { isIP, isIPv4 } from 'node:net'

/** Named ranges Fastify's trustProxy (proxy-addr) understands. */
const NAMED_RANGES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** What TRUST_PROXY means, in Fastify's trustProxy forms: nobody, everybody, the last N hops, or these proxies. */
export type TrustProxy = boolean | number | string[]

/**
 * Reads TRUST_PROXY: `false`, `true` (every hop: the leftmost X-Forwarded-For, which a client can forge
 * unless the proxy overwrites the header), a hop count, or a comma-separated list of proxy addresses and
 * CIDR ranges (or loopback, linklocal, uniquelocal). Returns a problem sentence instead when it is none of them.
 */
export function parseTrustProxy (value: string): TrustProxy | string {
  const text = value.trim()
  if (text === 'false') return false
  if (text === 'true') return true
  if (/^\d+$/.test(text)) {
    const hops = Number(text)
    return hops >= 1 && hops <= 100 ? hops : `${text} is not a hop count from 1 to 100`
  }
  const entries = text.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '')
  if (entries.length === 0) return 'it is empty'
  for (const entry of entries) {
    if (NAMED_RANGES.has(entry)) continue
    const [address, prefix, extra] = entry.split('/') as [string, string?, string?]
    const family = isIP(address)
    const bits = family === 4 ? 32 : 128
    if (family === 0 || extra !== undefined || (prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= bits))) {
      return `${JSON.stringify(entry)} is not an IP address, a CIDR range or one of ${[...NAMED_RANGES].join(', ')}`
    }
  }
  return entries
}

/** TRUST_PROXY as Fastify's option: a hop count becomes the function Fastify itself makes of one (its types omit numbers). */
export function trustProxyOption (trust: TrustProxy): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof trust === 'number' ? (_address, hop) => hop < trust : trust
}

/** `1.2.3.4:80` and `[2001:db8::1]:80` (some proxies append the port) as the address; anything else that is not an address: undefined. */
function addressOf (hop: string): string | undefined {
  if (isIP(hop) !== 0) return hop
  // The group that matched (the other one is undefined), if it is an address.
  return /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)\]):\d{1,5}$/.exec(hop)?.slice(1).find((group) => isIP(String(group)) !== 0)
}

/**
 * The client's address as TRUST_PROXY resolves it, but only ever an address: Fastify (proxy-addr) takes the
 * farthest trusted X-Forwarded-For entry as it is, so a `g1`, `010.0.0.9` or `167772169` there would be a
 * client of its own (an anonymous rate-limit bucket per made-up value). Walking out from the socket, the
 * first hop that is not an address ends the chain: the client is the last address before it (the proxy that
 * wrote the garbage, when it is the first). `ips` is the chain nearest first (Fastify's `request.ips`, set
 * when TRUST_PROXY is); `address:port` entries count as their address.
 */
// Stryker disable next-line StringLiteral: whatever stands in for a missing ip is no address, which is all that is asked of it
export function clientAddress ({ ip = 'unknown', ips = [] }: { ip: string | undefined, ips?: string[] | undefined }): string {
  if (isIP(ip) !== 0) return ip
  // Without TRUST_PROXY there is no chain, and `ip` is the socket's address (unknown once it has closed).
  const [socket = 'unknown', ...hops] = ips
  let client = socket
  for (const hop of hops) {
    const address = addressOf(hop)
    if (address === undefined) break
    client = address
  }
  return client
}

/** The eight 16-bit groups of an IPv6 address (which must be valid), an embedded IPv4 tail included. */
function ipv6Groups (address: string): number[] {
  let text = address.split('%')[0] as string
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (isIPv4(tail)) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number)
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, rest] = text.split('::') as [string, string?]
  const left = head === '' ? [] : head.split(':')
  // Stryker disable next-line ConditionalExpression,StringLiteral: a trailing `::` then adds a last group of NaN, read as 0 like the zero it stands for
  const right = rest === undefined || rest === '' ? [] : rest.split(':')
  // None without `::` (a valid address then has all eight).
  const zeros = Array<string>(8 - left.length - right.length).fill('0')
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16))
}

/**
 * The key that counts an anonymous client: its IPv4 address, or its IPv6 /64 network (one subscriber or
 * host usually holds a whole /64, so counting single IPv6 addresses would let it rotate past the limit).
 * IPv4-mapped IPv6 addresses count as the IPv4 address.
 */
export function clientNetwork (ip: string): string {
  if (isIP(ip) !== 6) return ip
  const groups = ipv6Groups(ip)
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6)
    return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`
}
