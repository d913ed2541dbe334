import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../config.ts'
import type { Fleet } from '../redis/fleet.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** With REDIS_URL: the state this replica shares with the others; null for a single replica. */
    fleet: Fleet | null
  }
}

export interface FleetPluginOptions {
  config: Config
  now: () => number
}

/** With REDIS_URL only (ioredis is not even loaded otherwise): shared cache, fleet lock, breaker and counters. */
async function fleet (app: FastifyInstance, { config, now }: FleetPluginOptions): Promise<void> {
  const { REDIS_URL } = config
  if (REDIS_URL === undefined) {
    app.decorate('fleet', null)
    return
  }
  const { connectFleet } = await import('../redis/fleet.ts')
  const fleet = await connectFleet({ config: { ...config, REDIS_URL }, logger: app.log, metrics: app.metrics, now })
  app.metrics.watch({ redis: () => fleet.link.state })
  app.decorate('fleet', fleet)
  app.addHook('onClose', async () => { await fleet.link.close() })
}

export default fp(fleet, { name: 'fleet', fastify: '5.x', dependencies: ['metrics'] })
