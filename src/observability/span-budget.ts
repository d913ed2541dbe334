import { TraceFlags, type Context } from '@opentelemetry/api'
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-node'

/**
 * Every span tracing holds, counted from the moment it ends until its export has settled — queued in the batch
 * processor, waiting for a retry, or on the wire — and bounded by `max` (OTEL_BSP_MAX_QUEUE_SIZE), whatever the
 * OTLP receiver does. The SDK's own bounds do not add up to that: its batch processor bounds its queue only,
 * and stops waiting for an export after OTEL_BSP_EXPORT_TIMEOUT while the exporter keeps the batch (serialized,
 * with its retries) until its own timeout, up to its concurrency limit of such batches. And the batch
 * processor drops a span past its queue silently; here each one is counted.
 */
export class SpanBudget {
  readonly max: number
  #held = 0

  constructor (max: number) {
    this.max = max
  }

  /** Spans held now. */
  get held (): number {
    return this.#held
  }

  /** Takes one span, or refuses it (false) when `max` are held. */
  take (): boolean {
    if (this.#held >= this.max) return false
    this.#held++
    return true
  }

  /** An export of `count` spans has settled (exported, or given up on). */
  release (count: number): void {
    this.#held -= count
  }
}

/**
 * The batch processor behind the budget: a sampled span is handed on only if the budget takes it, so the batch
 * processor's queue never fills (it holds at most the budget) and a span past the budget is dropped here,
 * told to `onDrop`. The exporter releases the budget when an export settles (GuardedExporter).
 */
export class BudgetedSpanProcessor implements SpanProcessor {
  readonly #inner: SpanProcessor
  readonly #budget: SpanBudget
  readonly #onDrop: () => void

  constructor (inner: SpanProcessor, budget: SpanBudget, onDrop: () => void) {
    this.#inner = inner
    this.#budget = budget
    this.#onDrop = onDrop
  }

  onStart (span: Span, context: Context): void {
    this.#inner.onStart(span, context)
  }

  onEnd (span: ReadableSpan): void {
    // The batch processor exports sampled spans only; the others are not held.
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return
    if (this.#budget.take()) this.#inner.onEnd(span)
    else this.#onDrop()
  }

  async forceFlush (): Promise<void> {
    await this.#inner.forceFlush()
  }

  async shutdown (): Promise<void> {
    await this.#inner.shutdown()
  }
}
