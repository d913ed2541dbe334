import type { BaseLogger, Bindings } from 'pino'

/** What a component needs of a logger: the levels it writes at (pino's and Fastify's loggers both fit). */
export type Log = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>

/** A logger that makes one child per component. */
export interface LogParent {
  child: (bindings: Bindings) => Log
}
