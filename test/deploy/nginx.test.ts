import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EnvSchema } from '../../src/config.ts'
import { SHIPPED_CONFIG } from '../helpers/nginx.ts'

// deploy/nginx/vobiz-bff.conf: what test/operations/rolling-restart.test.ts cannot show by running it (an idle
// stream outliving nginx's read timeout would take a minute), and the copy in the docs.
const shipped = readFileSync(SHIPPED_CONFIG, 'utf8')
const heartbeat = (EnvSchema.properties.EVENTS_HEARTBEAT_SECONDS as unknown as { default: number }).default

t.test('the event stream location streams, and outlives the heartbeat', async (t) => {
  const events = /location = \/profile\/events \{([^}]*)\}/.exec(shipped)?.[1] ?? ''
  t.match(events, /^\s*proxy_buffering off;$/m, 'events are passed on as they are written')
  for (const directive of ['proxy_read_timeout', 'proxy_send_timeout']) {
    const seconds = Number(new RegExp(`^\\s*${directive} (\\d+)s;$`, 'm').exec(events)?.[1])
    t.ok(seconds > heartbeat, `${directive} (${seconds} s) is above the ${heartbeat} s heartbeat`)
  }
})

t.test('the config shown in docs/operations.md is the shipped one', async (t) => {
  const docs = readFileSync(fileURLToPath(new URL('../../docs/operations.md', import.meta.url)), 'utf8')
  const block = /```nginx\n([^]*?)```/.exec(docs)?.[1] ?? ''
  const lines = new Set(shipped.split('\n').map((line) => line.trim()))
  const shown = block.split('\n').map((line) => line.trim()).filter((line) => line !== '' && line !== '}' && !line.startsWith('#'))
  t.ok(shown.length >= 10)
  for (const line of shown) t.ok(lines.has(line), `"${line}" is in deploy/nginx/vobiz-bff.conf`)
})
