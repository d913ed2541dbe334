#!/usr/bin/env node
import { randomBytes } from 'node:crypto'
import { basename, isAbsolute, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { CONSUMER_NAME, generateApiKey, SCOPES, sha256Hex, type Consumer, type Scope } from './consumers.ts'
import { messageOf } from './caught.ts'

/**
 * npm run keygen -- --name NAME --scopes profile:read[,balance:read] [--rate-limit N], or -- --webhook; in the
 * image (or any production install) `node dist/keygen.js …`, which needs nothing but node: no npm, no writable
 * HOME. Prints a new random API key once (give it to the consumer) and the CONSUMERS entry to paste
 * (only the key's SHA-256 is stored).
 */

/** How this was run, as the user would type it again: through npm's script, the package's bin, or node. */
function invokedAs (): string {
  if (process.env.npm_lifecycle_event === 'keygen') return 'npm run keygen --'
  const script = process.argv[1] ?? 'dist/keygen.js'
  if (basename(script) === 'vobiz-bff-keygen') return 'vobiz-bff-keygen'
  const fromHere = relative(process.cwd(), script)
  return `node ${fromHere.startsWith('..') || isAbsolute(fromHere) ? script : fromHere}`
}

const USAGE = `usage: ${invokedAs()} --name NAME --scopes ${SCOPES.join(',')} [--rate-limit N]
  --name        the consumer's name in logs and metrics: 1–64 of A–Z a–z 0–9 . _ -
  --scopes      comma-separated: profile:read (both routes), balance:read (/profile/balance only); default profile:read
  --rate-limit  that consumer's requests per minute (default: RATE_LIMIT_PER_MINUTE)
  --webhook     instead: a new webhook signing secret (whsec_…) for a WEBHOOKS_FILE entry
  --help        this text
`

function fail (message: string): never {
  process.stderr.write(`keygen: ${message}\n${USAGE}`)
  process.exit(2)
}

let values
try {
  ({ values } = parseArgs({
    options: {
      name: { type: 'string' },
      scopes: { type: 'string', default: 'profile:read' },
      'rate-limit': { type: 'string' },
      webhook: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  }))
} catch (err) {
  fail(messageOf(err))
}
if (values.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}
if (values.webhook) {
  // Standard Webhooks: whsec_ and the base64 of 32 random bytes; the service and the receiver both hold it.
  process.stdout.write([
    'Webhook signing secret (give it to the receiver; put it in the endpoint\'s WEBHOOKS_FILE entry as "secret"):',
    `  whsec_${randomBytes(32).toString('base64')}`,
    ''
  ].join('\n'))
  process.exit(0)
}

const name = values.name
if (name === undefined || !CONSUMER_NAME.test(name)) {
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

const json = JSON.stringify(entry)
process.stdout.write([
  `API key for ${name} (shown once; store it in the consumer's secret store):`,
  `  ${key}`,
  'CONSUMERS entry (add it to the JSON array in CONSUMERS or CONSUMERS_FILE):',
  `  ${json}`,
  'To add it to an existing array:',
  `  CONSUMERS: CONSUMERS='[…existing entries…, ${json}]'`,
  `  CONSUMERS_FILE: jq '. + [${json}]' consumers.json > consumers.json.new && mv consumers.json.new consumers.json`,
  ''
].join('\n'))
