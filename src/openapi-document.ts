import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

/**
 * The OpenAPI document as JSON and YAML, built from the routes without listening or calling Vobiz.
 * Deterministic: the same code always yields the same bytes (`npm run openapi` commits them).
 */
export async function openApiDocument (): Promise<{ json: string, yaml: string }> {
  // Sandbox mode needs neither credentials nor consumers; nothing is started, the routes are only registered.
  // JWTs are configured (nothing is fetched until a token arrives) so that the committed document describes
  // every scheme the service can accept; a running service serves only the schemes its configuration enables.
  const app = await buildApp(loadConfig({
    VOBIZ_SANDBOX: 'true',
    LOG_LEVEL: 'silent',
    JWT_JWKS_URL: 'https://login.example.com/.well-known/jwks.json',
    JWT_ISSUER: 'https://login.example.com/',
    JWT_AUDIENCE: 'vobiz-bff'
  }))
  try {
    await app.ready()
    return { json: JSON.stringify(app.swagger(), null, 2) + '\n', yaml: app.swagger({ yaml: true }) }
  } finally {
    await app.close()
  }
}
