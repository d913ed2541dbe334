import t from 'tap'
import { pino } from 'pino'
import { lazyChildLogger } from '../../src/http/request-logger.ts'
import { LogCapture } from '../helpers/harness.ts'

t.test('a request logger makes its pino child only when something logs through it', async (t) => {
  const capture = new LogCapture()
  const root = pino({ level: 'info' }, capture)
  let children = 0
  const counting = Object.assign(Object.create(root) as typeof root, {
    child: (...args: Parameters<typeof root.child>) => { children += 1; return root.child(...args) }
  })
  const log = lazyChildLogger(counting, { reqId: 'r-1' }, {})
  t.equal(children, 0, 'nothing made yet')
  log.info({ a: 1 }, 'hello')
  log.warn('careful')
  log.error('bad')
  log.fatal('worse')
  log.debug('hidden at info')
  log.trace('hidden at info')
  log.silent('never written')
  t.equal(children, 1, 'one child, made on first use and kept')
  t.same(capture.lines.map((l) => [l.reqId, l.msg]), [['r-1', 'hello'], ['r-1', 'careful'], ['r-1', 'bad'], ['r-1', 'worse']])
  t.equal(log.level, 'info')
  log.level = 'debug'
  log.debug('shown at debug')
  t.equal(capture.lines.at(-1)?.msg, 'shown at debug', 'the level can be changed per request')
  log.child({ step: 2 }).info('nested')
  t.match(capture.lines.at(-1), { reqId: 'r-1', step: 2, msg: 'nested' })
})
