/**
 * `node --expose-gc bench/live-heap-server.mjs`: dist/server.js as it is, plus one thing for a benchmark to ask:
 * on SIGUSR2 a full collection, then one JSON line on stderr with process.memoryUsage() — the live heap, what
 * load shedding judges (MAX_HEAP_USED_BYTES), beside the heap in use before it, garbage included.
 */
process.on('SIGUSR2', () => {
  const before = process.memoryUsage().heapUsed
  globalThis.gc()
  process.stderr.write(`${JSON.stringify({ heapUsedBefore: before, ...process.memoryUsage() })}\n`)
})
await import('../dist/server.js')
