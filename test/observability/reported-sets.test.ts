import t from 'tap'
import { ReportedSets } from '../../src/observability/reported-sets.ts'

t.test('a set seen again is "same"; a different one "new"; an empty one after a set "cleared"; kinds are apart', async (t) => {
  const sets = new ReportedSets()
  t.equal(sets.update('unusable', []), 'same', 'nothing, as before: nothing to say')
  t.equal(sets.update('unusable', ['status', 'name']), 'new')
  for (let i = 0; i < 5; i++) t.equal(sets.update('unusable', ['name', 'status']), 'same', 'the same names, in any order')
  t.equal(sets.update('secret', ['name']), 'new', 'another kind has its own memory')
  t.equal(sets.update('unusable', ['status']), 'new', 'one name fewer is a new set')
  t.equal(sets.update('unusable', []), 'cleared')
  t.equal(sets.update('unusable', []), 'same')
  t.equal(sets.update('unusable', ['status']), 'new', 'back again: said again')
})
