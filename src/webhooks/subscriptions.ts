import { createHash } from 'node:crypto'
import Type, { type Static } from 'typebox'
import { Value } from 'typebox/value'
import { CONSUMER_NAME } from '../consumers.ts'
import { CHANGE_CLASSES, type ChangeClass } from '../changes/detector.ts'
import { isEncrypted } from '../secure-url.ts'

/** Standard Webhooks secrets: `whsec_` and the base64 of 24 to 64 random bytes. */
const SECRET = /^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/

export const SubscriptionSchema = Type.Object({
  name: Type.String({ pattern: CONSUMER_NAME.source, description: 'the endpoint\'s name: in logs and metric labels (never the URL)' }),
  url: Type.String({ minLength: 1, maxLength: 2048, description: 'where deliveries are POSTed: https:// (http:// only for a loopback host)' }),
  events: Type.Array(Type.Enum(CHANGE_CLASSES), { minItems: 1, uniqueItems: true, description: 'the change classes delivered: billing, contact, balance' }),
  secret: Type.String({ pattern: SECRET.source, description: 'the signing secret, whsec_ and base64 of 24 to 64 random bytes (npm run keygen -- --webhook makes one; node dist/keygen.js --webhook in the image)' })
}, { additionalProperties: false })
export type Subscription = Static<typeof SubscriptionSchema>

const SubscriptionList = Type.Array(SubscriptionSchema)

/** Why `url` cannot receive deliveries, or undefined when it can. */
function refuseUrl (url: string): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'is not a URL'
  }
  if (!isEncrypted(parsed)) return `is ${parsed.protocol}// (expected https://; http:// only for a loopback host)`
  if (parsed.username !== '' || parsed.password !== '') return 'carries credentials (put them in the signing secret\'s place: receivers verify the signature)'
  if (parsed.hash !== '') return 'has a fragment'
  return undefined
}

/**
 * The webhook subscriptions in WEBHOOKS_FILE (a JSON array), validated whole: the schema, unique names, each
 * URL. Problems name the entry, never a value (the file holds secrets).
 */
export function parseSubscriptions (source: string, problems: string[]): Subscription[] {
  let parsed: unknown
  try {
    parsed = JSON.parse(source)
  } catch {
    problems.push('WEBHOOKS_FILE: not valid JSON; expected a JSON array of {name, url, events, secret}')
    return []
  }
  if (!Value.Check(SubscriptionList, parsed)) {
    const seen = new Set<string>()
    for (const error of Value.Errors(SubscriptionList, parsed)) {
      const entry = error.instancePath.split('/')[1] ?? ''
      if (seen.has(entry)) continue
      seen.add(entry)
      const where = error.instancePath === '' ? 'the top level' : `entry ${error.instancePath}`
      problems.push(`WEBHOOKS_FILE: ${where} ${error.message}; expected {name [A-Za-z0-9._-], url, events from ${CHANGE_CLASSES.join(', ')}, secret whsec_…}`)
    }
    return []
  }
  const names = new Set<string>()
  for (const [i, subscription] of parsed.entries()) {
    if (names.has(subscription.name)) problems.push(`WEBHOOKS_FILE: endpoint name ${JSON.stringify(subscription.name)} appears twice; expected unique names`)
    names.add(subscription.name)
    const refused = refuseUrl(subscription.url)
    if (refused !== undefined) problems.push(`WEBHOOKS_FILE: entry /${i} (${subscription.name}): the url ${refused}`)
  }
  return problems.length > 0 ? [] : parsed
}

/**
 * Whether `subscription` is given the profile in a snapshot: it is given the whole profile with its billing
 * or contact changes anyway; an endpoint that lists only `balance` gets the balance alone (as SSE gives a
 * caller that may read only the balance).
 */
export function readsProfile (subscription: Pick<Subscription, 'events'>): boolean {
  return wants(subscription, 'billing') || wants(subscription, 'contact')
}

/** Whether `subscription` receives changes of class `cls`. */
export function wants (subscription: Pick<Subscription, 'events'>, cls: ChangeClass): boolean {
  return (subscription.events as readonly string[]).includes(cls)
}

/**
 * A digest of an endpoint's entry: a disabled endpoint is enabled again once its entry differs. A hash, so
 * that the secret is never stored (with Redis, the digest is kept in the endpoint's state).
 */
export function entryDigest ({ name, url, events, secret }: Subscription): string {
  return createHash('sha256').update(JSON.stringify([name, url, events, secret])).digest('base64url').slice(0, 22)
}
