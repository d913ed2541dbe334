import type { Config } from './config.ts'

/** What this configuration turns on, for the start-up line: no secret, no URL that may hold one. */
export function enabledFeatures (config: Config) {
  const jwt = config.JWT_JWKS_URL !== undefined && config.JWT_ISSUER !== undefined && config.JWT_AUDIENCE !== undefined
  return {
    auth: {
      apiKeys: config.consumers.length,
      consumersFile: config.consumersFile !== undefined,
      jwt: jwt ? { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE } : false
    },
    cors: config.corsOrigins,
    docs: config.DOCS_ENABLED,
    metrics: config.METRICS_TOKEN !== undefined,
    redis: config.REDIS_URL !== undefined,
    ttlSeconds: { profile: config.PROFILE_TTL_SECONDS, balance: config.BALANCE_TTL_SECONDS },
    sandbox: config.VOBIZ_SANDBOX,
    startupFetch: config.STARTUP_FETCH,
    accessLog: config.ACCESS_LOG,
    // Endpoint names only: a URL may carry a token.
    webhooks: config.webhooks.map((subscription) => subscription.name),
    // The receiver's address is left out: it may carry credentials.
    tracing: config.tracing === undefined ? false : { protocol: config.tracing.protocol, sampler: config.tracing.sampler, serviceName: config.tracing.serviceName }
  }
}
