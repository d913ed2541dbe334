/** The Redis link's states (no ioredis here: the health route imports this without REDIS_URL). */
export const REDIS_STATES = ['connected', 'unavailable'] as const
export type RedisState = typeof REDIS_STATES[number]
