import t from 'tap'
import { KeepFresh } from '../../src/changes/keep-fresh.ts'
import { until } from '../helpers/time.ts'

// Conditions only: how many refreshes happen while held, and that none happen once released.

t.test('refreshes keep coming while anyone holds it (failures included), and stop once everyone has let go', async (t) => {
  let refreshes = 0
  const failing = { now: false }
  const keep = new KeepFresh({
    refresh: async () => {
      refreshes++
      if (failing.now) throw new Error('Vobiz is down')
    },
    periodMs: 5
  })
  const first = keep.hold()
  const second = keep.hold()
  await until('a refresh', () => refreshes >= 1)
  failing.now = true
  await until('a failing one', () => refreshes >= 3)
  failing.now = false
  const afterFailures = refreshes
  await until('refreshes go on after failures', () => refreshes > afterFailures + 1)
  first()
  first()
  const oneLeft = refreshes
  await until('one holder left (releasing twice counts once): still refreshing', () => refreshes > oneLeft + 1)
  const stopped = refreshes
  second()
  // No refresh starts once the last holder has let go (the loop checks before each one).
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(refreshes, stopped, 'nobody holds it: nothing runs')
  const again = keep.hold()
  await until('held again: it runs again', () => refreshes > stopped)
  again()
})
