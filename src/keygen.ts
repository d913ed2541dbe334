import { parseArgs } from 'node:util'
import { generateApiKey, SCOPES, sha256Hex, type Consumer, type Scope } from './consumers.ts'

/**
 * npm run keygen -- --name NAME --scopes profile:read[,balance:read] [--rate-limit N]
 * Prints a new random API key once (give it to the consumer) and the CONSUMERS entry to paste
 * (only the key's SHA-256 is stored).
 */
function fail (message: string): never {
  process.stderr.write(`keygen: ${message}\nusage: npm run keygen -- --name NAME --scopes ${SCOPES.join(',')} [--rate-limit N]\n`)
  process.exit(2)
}

let values
try {
  ({ values } = parseArgs({
    options: {
      name: { type: 'string' },
      scopes: { type: 'string', default: 'profile:read' },
      'rate-limit': { type: 'string' }
    }
  }))
} catch (err) {
  fail((err as Error).message)
}

const name = values.name
if (name === undefined || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
  fail('--name is required: 1–64 characters of A–Z a–z 0–9 . _ - (starting with a letter or digit)')
}
const scopes = values.scopes.split(/[\s,]+/).filter((s) => s !== '')
const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s))
if (scopes.length === 0 || unknown.length > 0) fail(`unknown scope ${JSON.stringify(unknown[0] ?? '')}; scopes are ${SCOPES.join(', ')}`)

const key = generateApiKey()
const entry: Consumer = { name, key_sha256: sha256Hex(key), scopes: [...new Set(scopes)] as Scope[] }
if (values['rate-limit'] !== undefined) {
  const limit = Number(values['rate-limit'])
  if (!Number.isInteger(limit) || limit < 1) fail('--rate-limit must be a positive integer (requests per minute)')
  entry.rate_limit_per_minute = limit
}

process.stdout.write([
  `API key for ${name} (shown once; store it in the consumer's secret store):`,
  `  ${key}`,
  'CONSUMERS entry (add it to the JSON array in CONSUMERS or CONSUMERS_FILE):',
  `  ${JSON.stringify(entry)}`,
  ''
].join('\n'))
