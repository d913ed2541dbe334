import { EventEmitter } from 'node:events'
import t from 'tap'
import { LogSink } from '../../src/observability/log-sink.ts'

/** A destination that holds what it is given until told to flush, reporting like sonic-boom ('write' with bytes). */
class StalledDestination extends EventEmitter {
  held: string[] = []
  written: string[] = []
  write (line: string): boolean {
    this.held.push(line)
    return true
  }

  flush (): void {
    for (const line of this.held.splice(0)) {
      this.written.push(line)
      this.emit('write', Buffer.byteLength(line))
    }
  }
}

t.test('while the destination is stalled, access lines go first, then every line; the loss is counted and reported once', async (t) => {
  const destination = new StalledDestination()
  const sink = new LogSink({ destination, maxBufferBytes: 1000 })
  const reports: number[] = []
  sink.onRecovered = (dropped) => { reports.push(dropped) }
  const access = `${'a'.repeat(99)}\n`
  const important = `${'e'.repeat(99)}\n`

  for (let i = 0; i < 10; i++) sink.writeAccess(access)
  t.equal(destination.held.length, 5, 'access lines stop at half the buffer')
  for (let i = 0; i < 10; i++) sink.write(important)
  t.equal(destination.held.length, 10, 'other lines fill the rest')
  t.equal(sink.dropped, 10)
  t.same(reports, [], 'nothing reported while stalled')

  destination.flush()
  t.same(reports, [10], 'one report once the destination caught up')
  sink.write(important)
  t.equal(destination.held.length, 1, 'lines flow again')

  destination.emit('drop', important)
  t.equal(sink.dropped, 11, "the destination's own drops are counted too")
})

t.test('without a buffer limit (a synchronous destination) nothing is dropped', async (t) => {
  const destination = new StalledDestination()
  const sink = new LogSink({ destination })
  for (let i = 0; i < 1000; i++) sink.writeAccess('x'.repeat(100))
  t.equal(destination.held.length, 1000)
  t.equal(sink.dropped, 0)
})
