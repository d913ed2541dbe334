import type { Config } from '../config.ts'
import { generateApiKey, sha256Hex } from '../consumers.ts'
import { startSandbox, type Sandbox } from './sandbox.ts'

export interface SandboxMode {
  /** The configuration rewritten to use the sandbox (and a demo consumer when none is configured). */
  config: Config
  sandbox: Sandbox
  /** The demo consumer's API key, when one was created. */
  demoKey?: string
}

/**
 * VOBIZ_SANDBOX=true: starts the simulated Vobiz API on an ephemeral loopback port and points the service at
 * it, with VOBIZ_AUTH_ID/TOKEN if given (random ones otherwise). Without configured consumers, a `demo`
 * consumer with profile:read is created and its key returned so it can be printed once.
 */
export async function enterSandboxMode (config: Config): Promise<SandboxMode> {
  const sandbox = await startSandbox({ authId: config.VOBIZ_AUTH_ID, authToken: config.VOBIZ_AUTH_TOKEN })
  const demoKey = config.consumers.length === 0 ? generateApiKey() : undefined
  const consumers = demoKey === undefined
    ? config.consumers
    : [{ name: 'demo', key_sha256: sha256Hex(demoKey), scopes: ['profile:read' as const] }]
  return {
    config: { ...config, VOBIZ_BASE_URL: sandbox.url, VOBIZ_AUTH_ID: sandbox.authId, VOBIZ_AUTH_TOKEN: sandbox.authToken, consumers },
    sandbox,
    ...(demoKey === undefined ? {} : { demoKey })
  }
}
