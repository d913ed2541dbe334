/** What the server prints at start-up: its URL as a person would type it, and the sandbox banner. */

export function displayUrl (host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
  return `http://${name}:${port}`
}

export function sandboxBanner (url: string, demoKey: string | undefined): string {
  const lines = [
    '',
    `  Vobiz partner BFF (sandbox: simulated data) listening on ${url}`,
    ...(url.startsWith('http://127.0.0.1:') ? ['  Loopback only: the demo key is not reachable from other machines (HOST=0.0.0.0 to change that).'] : []),
    ...(demoKey === undefined
      ? ['  Consumers come from CONSUMERS / CONSUMERS_FILE.']
      : [
          `  Demo API key (printed once, valid until this process exits): ${demoKey}`,
          `  Try: curl -s -H 'X-API-Key: ${demoKey}' ${url}/profile`,
          `       curl -s -H 'X-API-Key: ${demoKey}' ${url}/profile/balance`
        ]),
    ''
  ]
  return lines.join('\n') + '\n'
}
