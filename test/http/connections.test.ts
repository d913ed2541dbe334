import { EventEmitter } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import connections, { connectionCap, defaultMaxConnections, descriptorLimit, guardConnections } from '../../src/http/connections.ts'

t.test('the connection cap is the open-files limit less a tenth of it, at least 64 kept back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'limits-'))
  const limits = (soft: string) => {
    const file = join(dir, soft)
    writeFileSync(file, `Limit                     Soft Limit           Hard Limit           Units\nMax processes             63704                63704                processes\nMax open files            ${soft}                 1048576              files\n`)
    return file
  }
  t.equal(descriptorLimit(limits('1024')), 1024)
  t.equal(descriptorLimit(limits('unlimited')), undefined)
  t.equal(descriptorLimit(join(dir, 'missing')), undefined, 'no /proc (not Linux)')
  t.equal(typeof descriptorLimit(), 'number', 'this machine has one')
  t.equal(defaultMaxConnections(256), 192)
  t.equal(defaultMaxConnections(1024), 922)
  t.equal(defaultMaxConnections(1_048_576), 943_719)
  t.equal(defaultMaxConnections(40), 1)
  t.equal(defaultMaxConnections(undefined), 10_000)
})

t.test('the cap in force is never more than the descriptor limit less 64: a connection past it is dropped where it is counted', async (t) => {
  t.equal(connectionCap(undefined, 256), 192, 'the default')
  t.equal(connectionCap(100, 256), 100, 'a smaller MAX_CONNECTIONS is kept')
  t.equal(connectionCap(192, 256), 192)
  t.equal(connectionCap(193, 256), 192, 'one more than the descriptors can hold')
  t.equal(connectionCap(2000, 256), 192)
  t.equal(connectionCap(1000, 1024), 960, 'MAX_CONNECTIONS may use the headroom the default keeps, down to 64')
  t.equal(connectionCap(5, 40), 1, 'a limit under 65 leaves one connection')
  t.equal(connectionCap(1_000_000, undefined), 1_000_000, 'no readable limit (not Linux): MAX_CONNECTIONS as set')

  const warnings: Array<Record<string, unknown>> = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push(JSON.parse(line)) } } } })
  await app.register(fp(async (app) => { app.decorate('metrics', { connectionsRefused: { inc: () => {} } } as never) }, { name: 'metrics' }))
  await app.register(connections, { maxConnections: 2000, descriptors: 256 })
  await app.ready()
  t.equal(app.server.maxConnections, 192)
  t.match(warnings, [{ level: 40, component: 'connections', maxConnections: 192, openFilesLimit: 256, msg: /^MAX_CONNECTIONS=2000 is more than the open-files limit \(256\) can hold: capped at 192/ }])
  await app.close()
})

t.test('drops and accept errors are logged once per episode, counted each time, and never thrown', async (t) => {
  const server = new EventEmitter() as EventEmitter & { maxConnections?: number }
  const logged: Array<[string, string]> = []
  const log = Object.fromEntries(['error', 'warn', 'info'].map((level) => [level, (_fields: unknown, msg: string) => { logged.push([level, msg]) }]))
  let refused = 0
  guardConnections(server as unknown as Server, { maxConnections: 7, log: log as never, onRefused: () => { refused += 1 } })
  t.equal(server.maxConnections, 7)

  server.emit('drop')
  server.emit('drop')
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' })
  server.emit('error', emfile)
  server.emit('error', emfile)
  server.emit('connection')
  server.emit('connection')
  server.emit('error', Object.assign(new Error('something else'), { code: 'EPERM', syscall: 'listen' }))
  t.equal(refused, 4)
  t.same(logged, [
    ['warn', 'connection limit reached: new connections are dropped until some close (MAX_CONNECTIONS=7)'],
    ['error', 'cannot accept connections (out of file descriptors?): new connections are dropped until descriptors free up'],
    ['info', 'accepting connections again; 4 were dropped'],
    ['error', 'server error']
  ])
})
