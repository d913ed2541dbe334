import { createHash } from 'node:crypto'

/** Shorter secrets are not searched for: replacing every occurrence of a few characters would garble the logs. */
export const MIN_SECRET_LENGTH = 8
/** Runs of the API-key alphabet (base64url, as `npm run keygen` makes them) long enough to be a key. */
const KEY_CANDIDATE = /[A-Za-z0-9_-]{32,256}/g
/** The length of the keys `npm run keygen` issues (32 random bytes, base64url: src/consumers.ts). */
const ISSUED_KEY_LENGTH = 43
/** Runs long enough to hold an issued key with more of the alphabet around it. */
const LONG_RUN = /[A-Za-z0-9_-]{44,}/g
const CENSOR = '[redacted]'

export interface SecretFilterOptions {
  /** Values that must never be written: the Vobiz credentials, the metrics token, the Redis password. */
  secrets: ReadonlyArray<string | undefined>
  /** SHA-256 digests (hex) of the consumers' API keys: a key is recognised by hashing what looks like one. */
  keyDigests: Iterable<string>
}

/**
 * The last check on a log line before it is written: every configured secret, raw or as it appears inside a
 * JSON string, and every consumer key, is replaced by `[redacted]`. Defence in depth behind pino's redaction
 * paths and the upstream-code allowlist; it runs on the lines pino writes (not on the access lines, which
 * hold no value taken from a request but its sanitised id), so it costs nothing on the hot path.
 */
export class SecretFilter {
  #needles: string[] = []
  readonly #digests = new Set<string>()

  constructor (options: SecretFilterOptions) {
    this.add(options.secrets)
    this.addKeyDigests(options.keyDigests)
  }

  /** More values never to write (rotated credentials: the old ones stay on the list). */
  add (secrets: ReadonlyArray<string | undefined>): void {
    const needles = new Set(this.#needles)
    for (const secret of secrets) {
      if (secret === undefined || secret.length < MIN_SECRET_LENGTH) continue
      needles.add(secret)
      needles.add(JSON.stringify(secret).slice(1, -1))
    }
    // Longest first, so that a secret containing another is replaced whole.
    this.#needles = [...needles].sort((a, b) => b.length - a.length)
  }

  /** More consumers' key digests (after a reload; a revoked key stays on the list). */
  addKeyDigests (digests: Iterable<string>): void {
    for (const digest of digests) this.#digests.add(digest.toLowerCase())
  }

  /**
   * Whether `text` holds a configured secret or a consumer key anywhere in it: the check on every value a
   * consumer can receive, before it leaves the process. Recognises what `scrub` does and, since a value is
   * short and checked once per fetch, also a key issued by keygen inside a longer run of the key alphabet
   * (`ref_<key>`): every 43-character window of such a run is hashed.
   */
  contains (text: string): boolean {
    if (this.#needles.some((needle) => text.includes(needle))) return true
    if (this.#digests.size === 0) return false
    if ((text.match(KEY_CANDIDATE) ?? []).some((candidate) => this.#isKey(candidate))) return true
    return (text.match(LONG_RUN) ?? []).some((run) => {
      for (let at = 0; at + ISSUED_KEY_LENGTH <= run.length; at++) if (this.#isKey(run.slice(at, at + ISSUED_KEY_LENGTH))) return true
      return false
    })
  }

  #isKey (candidate: string): boolean {
    return this.#digests.has(createHash('sha256').update(candidate).digest('hex'))
  }

  scrub (line: string): string {
    let clean = line
    for (const needle of this.#needles) {
      if (clean.includes(needle)) clean = clean.replaceAll(needle, CENSOR)
    }
    if (this.#digests.size === 0) return clean
    return clean.replace(KEY_CANDIDATE, (candidate) => this.#isKey(candidate) ? CENSOR : candidate)
  }
}
