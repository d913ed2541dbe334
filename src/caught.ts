/**
 * What a caught value (`unknown`: anything can be thrown) says, read in one place instead of cast at every
 * catch. Neither ever throws.
 */

/** Its `code` when it has a string one (Node's errno codes, undici's, the service's own), else undefined. */
export function codeOf (caught: unknown): string | undefined {
  const code = typeof caught === 'object' && caught !== null ? (caught as { code?: unknown }).code : undefined
  return typeof code === 'string' ? code : undefined
}

/** Its message: an Error's, else the value as text. */
export function messageOf (caught: unknown): string {
  return caught instanceof Error ? caught.message : String(caught)
}
