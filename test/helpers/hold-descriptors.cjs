// Preloaded (node --require) into a server a test starts: on SIGWINCH it opens HOLD_DESCRIPTORS descriptors and
// keeps them for the process's whole life, as descriptors used outside the connection budget would be. (Not at
// start: the module loader opens many files at once while the server starts.)
'use strict'
const { openSync } = require('node:fs')
process.on('SIGWINCH', () => {
  for (let i = 0; i < Number(process.env.HOLD_DESCRIPTORS); i++) openSync('/dev/null', 'r')
  process.stdout.write('{"msg":"descriptors held"}\n')
})
