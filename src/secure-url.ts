/** Hosts that never leave the machine: the only ones a plain http:// URL may name. */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/** True for https://, and for http:// to a loopback host (a sandbox or a test): nothing else travels unencrypted. */
export function isEncrypted (url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))
}
