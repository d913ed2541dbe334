import t from 'tap'
import { systemClock } from '../src/clock.ts'

t.test('the system clock reads Date.now and sleeps on a real timer that an abort cancels', async (t) => {
  const before = Date.now()
  const now = systemClock.now()
  t.ok(now >= before && now <= Date.now(), 'now() is the wall clock')
  await t.resolves(systemClock.sleep(1), 'a sleep ends')
  const controller = new AbortController()
  const sleeping = systemClock.sleep(60_000, controller.signal)
  controller.abort()
  await t.rejects(sleeping, { name: 'AbortError' }, 'an abort ends it at once, rejecting')
})
