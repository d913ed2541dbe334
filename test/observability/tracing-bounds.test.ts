import { once } from 'node:events'
import { createServer as createHttpServer, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { SamplingDecision } from '@opentelemetry/api'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { startTracing, type ExportOutcome } from '../../src/observability/tracing.ts'
import { spanPipeline } from '../../src/observability/tracing-sdk.ts'
import { httpGet, startHarness } from '../helpers/harness.ts'
import { testTracing } from '../helpers/otlp-receiver.ts'
import { until } from '../helpers/time.ts'

// What tracing holds when the OTLP receiver is gone or never answers: at most OTEL_BSP_MAX_QUEUE_SIZE spans,
// queued or being exported, and every span past that is counted as dropped. Real exporters, real sockets.

/** Where nothing listens: a port just released. */
async function deadEndpoint (): Promise<string> {
  const server = createNetServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return `http://127.0.0.1:${port}`
}

/** A receiver that takes the connection and the bytes, and never answers. */
async function hangingEndpoint (t: Test): Promise<string> {
  const sockets = new Set<Socket>()
  const server = createNetServer((socket) => { sockets.add(socket); socket.resume() }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { for (const socket of sockets) socket.destroy(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A receiver that accepts every export. */
async function workingEndpoint (t: Test): Promise<string> {
  const server = createHttpServer((request, response) => {
    request.resume()
    request.on('end', () => { response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end() })
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const MAX = 16
const MADE = 200

for (const [receiver, endpoint] of [['dead', deadEndpoint], ['hanging', hangingEndpoint], ['working', workingEndpoint]] as const) {
  t.test(`a ${receiver} receiver: at most ${MAX} spans held, the rest counted as dropped, and every span accounted for`, async (t) => {
    const url = `${await endpoint(t)}/v1/traces`
    const { processor, exporter, budget } = spanPipeline(testTracing(url, { batch: { maxQueueSize: MAX, maxExportBatchSize: 4, scheduledDelayMillis: 10, exportTimeoutMillis: 30_000 }, timeoutMillis: 500 }))
    const counts: Record<ExportOutcome, number> = { ok: 0, failed: 0, dropped: 0 }
    exporter.listener = (result, spans) => { counts[result] += spans }
    // A provider of its own, not the process's: nothing else makes spans through it.
    const provider = new NodeTracerProvider({ spanProcessors: [processor] })
    const tracer = provider.getTracer('bounds-test')

    for (let i = 0; i < MADE; i++) tracer.startSpan(`span ${i}`, { attributes: { 'user_agent.original': 'x'.repeat(1000) } }).end()
    // Every export settles asynchronously (on a socket): right after the spans ended, none has.
    t.equal(budget.held, MAX, 'the bound is held')
    t.equal(counts.dropped, MADE - MAX, 'every span past it is counted as dropped')

    await until('every held span\'s export to settle', () => budget.held === 0)
    t.equal(counts.ok + counts.failed + counts.dropped, MADE, 'each span exported, failed or dropped: none unaccounted for')
    t.equal(counts[receiver === 'working' ? 'ok' : 'failed'], MAX, receiver === 'working' ? 'the held ones exported' : 'the held ones given up on, after the exporter\'s timeout')

    tracer.startSpan('after').end()
    t.equal(budget.held, 1, 'once settled, spans are taken again')
    await provider.forceFlush().catch(() => {})
    t.equal(budget.held, 0, 'a flush exports it (or gives it up)')
    tracer.startSpan('last').end()
    // Shutting down exports it (the batch processor reports an export that failed as a rejection).
    await provider.shutdown().catch(() => {})
    t.equal(budget.held, 0)
  })
}

t.test('a span recorded but not sampled is not held: the batch processor would not export it', async (t) => {
  const { processor, budget } = spanPipeline(testTracing('http://127.0.0.1:9/v1/traces'))
  const provider = new NodeTracerProvider({ spanProcessors: [processor], sampler: { shouldSample: () => ({ decision: SamplingDecision.RECORD }) } })
  const span = provider.getTracer('bounds-test').startSpan('recorded only')
  t.ok(span.isRecording())
  span.end()
  t.equal(budget.held, 0)
  await provider.shutdown()
})

/** A receiver that takes every export and answers none until it is opened; then it answers them all, and every later one. */
async function gatedEndpoint (t: Test): Promise<{ url: string, open: () => void }> {
  const waiting: ServerResponse[] = []
  let opened = false
  const answer = (response: ServerResponse): void => { response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end() }
  const server = createHttpServer((request, response) => {
    request.resume()
    request.on('end', () => { if (opened) answer(response); else waiting.push(response) })
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    open: () => { opened = true; for (const response of waiting.splice(0)) answer(response) }
  }
}

t.test('the service with a receiver that does not answer: spans held stay within OTEL_BSP_MAX_QUEUE_SIZE, drops are counted in /metrics, nothing is shed', async (t) => {
  const receiver = await gatedEndpoint(t)
  // This file's process-wide SDK (the app's server spans need one). The exporter would give up after a minute:
  // until the receiver is opened, nothing it was sent settles.
  const tracing = await startTracing(testTracing(`${receiver.url}/v1/traces`, { batch: { maxQueueSize: 4, maxExportBatchSize: 2, scheduledDelayMillis: 10, exportTimeoutMillis: 120_000 }, timeoutMillis: 60_000 }))
  t.teardown(async () => { await tracing.shutdown() })
  const h = await startHarness(t, { deps: { tracing }, env: { METRICS_TOKEN: 'bounds-test-metrics-token' } })
  const metric = async (pattern: RegExp): Promise<number> => Number(pattern.exec((await httpGet(`${h.url}/metrics`, { authorization: 'Bearer bounds-test-metrics-token' })).text)?.[1])
  const held = /^vobiz_bff_trace_spans_held (\d+)$/m
  const exported = (result: ExportOutcome): RegExp => new RegExp(`^vobiz_bff_trace_spans_exported_total\\{result="${result}"\\} (\\d+)$`, 'm')

  const statuses = new Set<number>()
  const requests = 20
  for (let i = 0; i < requests; i++) statuses.add((await h.get('/profile', { 'x-api-key': h.keys.profile })).status)
  t.same([...statuses], [200], 'every request answered')
  t.equal(await metric(held), 4, 'spans held: the bound, and no more')
  const dropped = await metric(exported('dropped'))
  t.ok(dropped >= requests * 2 - 4, `the spans past the bound (a server and a cache span a request, at least) counted as dropped: ${dropped}`)

  receiver.open()
  await until('the held spans exported', async () => await metric(held) === 0)
  t.equal(await metric(exported('ok')), 4, 'the held ones are exported once the receiver answers')
  t.equal(await metric(exported('dropped')), dropped, 'and nothing more was dropped')
})
