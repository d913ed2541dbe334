/**
 * Loaded into the measured service by the SSE step only (`node --import bench/heap-probe.mjs dist/server.js`):
 * a loopback listener of its own (its port written to HEAP_PROBE_FILE) that answers each request with the heap
 * and RSS as they are, then as they are after a full collection — what the streams hold, without the garbage
 * V8 has not collected yet. (Not a signal: close-with-grace shuts the service down on SIGUSR2.) V8's gc is
 * taken the way src/observability/live-heap.ts takes it, here on its own so that the probe also measures
 * versions of the service that predate that file.
 */
import { writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')
setFlagsFromString('--no-expose-gc')

const server = createServer((_req, res) => {
  const before = process.memoryUsage()
  gc()
  const after = process.memoryUsage()
  res.end(JSON.stringify({ heapUsedBefore: before.heapUsed, rssBefore: before.rss, heapUsed: after.heapUsed, rss: after.rss }))
})
server.listen(0, '127.0.0.1', () => { writeFileSync(process.env.HEAP_PROBE_FILE, String(server.address().port)) })
// Never what keeps the service running.
server.unref()
