import t from 'tap'
import { codeOf, messageOf } from '../src/caught.ts'

t.test('a caught value\'s code and message, whatever was thrown', async (t) => {
  t.equal(codeOf(Object.assign(new Error('no such file'), { code: 'ENOENT' })), 'ENOENT')
  t.equal(codeOf({ code: 42 }), undefined, 'only a string code')
  t.equal(codeOf(new Error('plain')), undefined)
  t.equal(codeOf(null), undefined)
  t.equal(codeOf('a string'), undefined)
  t.equal(messageOf(new TypeError('bad type')), 'bad type')
  t.equal(messageOf('thrown text'), 'thrown text')
  t.equal(messageOf(undefined), 'undefined')
})
