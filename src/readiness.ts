import type { UpstreamStatus } from './vobiz/upstream.ts'

/** While a replica is unready for its credentials, the start-up fetch tries again this often (and Retry-After says so). */
export const CREDENTIALS_RETRY_MS = 10_000

/**
 * The one upstream condition that makes a replica unready: it has never fetched successfully, and Vobiz
 * rejected its credentials (401/403). A rollout with wrong credentials then halts while the old replicas
 * serve. Anything else Vobiz does (down, slow, 429, 5xx) keeps it ready: an outage is not the replica's
 * fault, and stale copies still serve.
 */
export function credentialsRejected (status: Pick<UpstreamStatus, 'credentials' | 'lastSuccessAt'>): boolean {
  return status.credentials === 'rejected' && status.lastSuccessAt === undefined
}
