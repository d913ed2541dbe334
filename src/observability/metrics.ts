import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client'
import { LocalCounter, LocalHistogram } from './local-metrics.ts'

const BREAKER_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const

/**
 * State the metrics read at scrape time, attached with `watch()` once the components exist. Structural types,
 * so that observability imports nothing of the components it observes (the upstream's status and the Redis
 * link fit them as they are).
 */
export interface MetricSources {
  upstream: () => { breaker: keyof typeof BREAKER_VALUES }
  /** Only with REDIS_URL: the Redis link's state. */
  redis?: (() => 'connected' | 'unavailable') | undefined
  logLinesDropped: () => number
  logBufferBytes: () => number
  /** The partner profile this replica serves now (the latest successful fetch, by any replica), if any. */
  profile: () => PartnerFacts | undefined
  /** When this replica last fetched from Vobiz successfully (ms since epoch). */
  lastSuccessAt: () => number | undefined
  /** Open GET /profile/events streams. */
  eventStreams: () => number
  /** The webhook endpoints this replica delivers to now (with Redis, the others' are reported by their deliverer). */
  webhooks: () => Array<{ endpoint: string, depth: number, oldestAgeMs: number | undefined, failures: number, disabled: boolean }>
  /** Only with tracing on: spans held for export now (queued or being exported). */
  traceSpansHeld?: (() => number) | undefined
}

/** What prom-client's registry reads of a metric (its public shape; the typings leave `name` out). */
interface Exposed {
  name: string
  help: string
  type: string
  get: () => Promise<object>
  /** Histograms format their values for the text exposition through this; the registry prefers it. */
  getForPromString?: () => Promise<object>
}

/** `metric` under a name of its own, for the OpenMetrics registry to rename: its values are the original's. */
function openMetricsView (metric: Exposed): Exposed {
  const view: Exposed = { name: metric.name, help: metric.help, type: metric.type, get: async () => ({ ...(await metric.get()), name: view.name }) }
  const forPromString = metric.getForPromString
  if (forPromString !== undefined) view.getForPromString = async () => ({ ...(await forPromString.call(metric)), name: view.name })
  return view
}

/** What the business metrics read of the profile. */
export interface PartnerFacts {
  balance: number
  currency?: string | undefined
  status?: string | undefined
  gst_status?: string | undefined
  account_type?: string | undefined
  /** When the fetch that produced it started (ms since epoch), and how long ago that is. */
  fetchedAt: number
  ageMs: number
}

/**
 * The service's Prometheus metrics, in a registry of its own (one per app). Label values are bounded: route
 * templates, outcome names, and consumer names from the configuration (JWT users count as `jwt`, callers
 * without credentials as `anonymous`). Made first, so that every component can report to it; the state read
 * at scrape time is attached with watch() once the components exist.
 */
export class Metrics {
  readonly registry = new Registry()
  // Touched by every request: counted locally, read by prom-client at scrape time.
  readonly httpDuration = new LocalHistogram({
    name: 'http_request_duration_seconds',
    help: 'Time to answer a request, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registry: this.registry
  })

  readonly cacheOutcomes = new LocalCounter({
    name: 'vobiz_bff_cache_outcomes_total',
    help: 'Answers by cache outcome: hit, miss (fetched), refresh (forced fetch), collapsed (waited on another fetch), stale (with detail)',
    labelNames: ['route', 'outcome', 'detail'] as const,
    registry: this.registry
  })

  readonly refreshRefused = new Counter({
    name: 'vobiz_bff_refresh_refused_total',
    help: 'Forced refreshes refused by the refresh budget (answered from cache)',
    labelNames: ['route'] as const,
    registers: [this.registry]
  })

  readonly upstreamDuration = new Histogram({
    name: 'vobiz_bff_upstream_fetch_duration_seconds',
    help: 'Time for one Vobiz fetch (all attempts), by outcome (ok or the error code, breaker-open, cooling-down)',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry]
  })

  readonly fieldsWithheld = new Counter({
    name: 'vobiz_bff_upstream_fields_withheld_total',
    help: 'Profile fields Vobiz sent that were left out of what consumers receive, per fetch, by field and reason: unusable (a value that cannot be published), secret (it held a configured secret)',
    labelNames: ['field', 'reason'] as const,
    registers: [this.registry]
  })

  readonly upstreamAttempts = new Counter({ name: 'vobiz_bff_upstream_attempts_total', help: 'HTTP requests sent to Vobiz', registers: [this.registry] })
  readonly upstreamRetries = new Counter({ name: 'vobiz_bff_upstream_retries_total', help: 'Vobiz requests that were retries', registers: [this.registry] })
  readonly rateLimited = new Counter({
    name: 'vobiz_bff_rate_limit_rejections_total',
    help: 'Requests answered 429 by the rate limiter, by consumer',
    labelNames: ['consumer'] as const,
    registers: [this.registry]
  })

  readonly configReloads = new Counter({
    name: 'vobiz_bff_config_reloads_total',
    help: 'Reloads of what comes from files (consumers, Vobiz credentials), by result: ok, or error (the previous values stay)',
    labelNames: ['result'] as const,
    registers: [this.registry]
  })

  readonly changeEvents = new Counter({
    name: 'vobiz_bff_change_events_total',
    help: 'Changes detected between one profile fetch and the next, by class: balance, billing, contact',
    labelNames: ['class'] as const,
    registers: [this.registry]
  })

  readonly eventStreamsClosed = new Counter({
    name: 'vobiz_bff_event_streams_closed_total',
    help: 'GET /profile/events streams ended, by reason: client (it left), shutdown, slow (EVENTS_MAX_BUFFERED_BYTES unread), revoked (its key no longer accepted), scope_reduced (its key lost profile:read), expired (its token)',
    labelNames: ['reason'] as const,
    registers: [this.registry]
  })

  readonly webhookDeliveries = new Counter({
    name: 'vobiz_bff_webhook_deliveries_total',
    help: 'Webhook delivery attempts and give-ups, by endpoint and result: delivered, failed (retried later), expired (given up after WEBHOOKS_RETRY_HOURS), dropped (past WEBHOOKS_QUEUE_MAX)',
    labelNames: ['endpoint', 'result'] as const,
    registers: [this.registry]
  })

  readonly connectionsRefused = new Counter({
    name: 'vobiz_bff_connections_refused_total',
    help: 'Connections dropped at accept: past the connection cap (MAX_CONNECTIONS, at most the open-files limit less 64), or on an accept error',
    registers: [this.registry]
  })

  readonly requestsShed = new Counter({
    name: 'vobiz_bff_requests_shed_total',
    help: 'Requests answered 503 by load shedding, by reason: event_loop_delay (past MAX_EVENT_LOOP_DELAY_MS), heap (live heap past MAX_HEAP_USED_BYTES)',
    labelNames: ['reason'] as const,
    registers: [this.registry]
  })

  /** Only with REDIS_URL. */
  readonly redis: { fallbacks: Counter<'operation'>, sharedLoads: Counter<'result'> } | undefined

  /** Only with tracing on: spans handed to the OTLP receiver, by result (a failed export's spans are lost). */
  readonly traceSpans: Counter<'result'> | undefined

  /** What has been attached so far (a scrape before that reports nothing for it). */
  #sources: Partial<MetricSources> = {}

  /** `fleet`: the replica shares state through Redis (REDIS_URL), and has its metrics; `tracing`: likewise for tracing. */
  constructor ({ fleet, tracing = false }: { fleet: boolean, tracing?: boolean }) {
    const sources = (): Partial<MetricSources> => this.#sources
    collectDefaultMetrics({ register: this.registry })
    // Gauges named like counters (promtool warns): each is the sum of its `nodejs_active_*{type}` gauge.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name)
    // eslint-disable-next-line no-new
    new Counter({
      name: 'vobiz_bff_log_lines_dropped_total',
      help: 'Log lines dropped because the log destination did not keep up (access lines first)',
      registers: [this.registry],
      collect () {
        this.reset()
        this.inc(sources().logLinesDropped?.() ?? 0)
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_bff_log_buffer_bytes',
      help: 'Log output waiting for stdout (at most LOG_MAX_BUFFER_BYTES)',
      registers: [this.registry],
      collect () { this.set(sources().logBufferBytes?.() ?? 0) }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_bff_event_streams',
      help: 'Open GET /profile/events streams (Server-Sent Events subscribers)',
      registers: [this.registry],
      collect () { this.set(sources().eventStreams?.() ?? 0) }
    })
    this.#webhookMetrics(sources)
    this.traceSpans = tracing
      ? new Counter({ name: 'vobiz_bff_trace_spans_exported_total', help: 'Spans sent to the OTLP receiver, by result: ok, failed (those spans are lost), or dropped (never sent: OTEL_BSP_MAX_QUEUE_SIZE spans were held already)', labelNames: ['result'] as const, registers: [this.registry] })
      : undefined
    if (tracing) {
      // eslint-disable-next-line no-new
      new Gauge({
        name: 'vobiz_bff_trace_spans_held',
        help: 'Spans ended and not yet exported or given up on, queued or being exported (at most OTEL_BSP_MAX_QUEUE_SIZE)',
        registers: [this.registry],
        collect () { this.set(sources().traceSpansHeld?.() ?? 0) }
      })
    }
    if (fleet) {
      // eslint-disable-next-line no-new
      new Gauge({
        name: 'vobiz_bff_redis_up',
        help: '1 while Redis is connected (shared mode), 0 while this replica runs on local state',
        registers: [this.registry],
        collect () { this.set(sources().redis?.() === 'connected' ? 1 : 0) }
      })
      this.redis = {
        fallbacks: new Counter({
          name: 'vobiz_bff_redis_fallbacks_total',
          help: 'Operations done on local state because Redis was unusable, by operation (rate-limit, cache)',
          labelNames: ['operation'] as const,
          registers: [this.registry]
        }),
        sharedLoads: new Counter({
          name: 'vobiz_bff_shared_cache_loads_total',
          help: 'Loads past this replica\'s L1 cache, by result: shared-hit, waited (another replica fetched), fetched (this replica held the lock), local (Redis unusable)',
          labelNames: ['result'] as const,
          registers: [this.registry]
        })
      }
    }
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_bff_breaker_state',
      help: 'Vobiz circuit breaker: 0 closed, 1 half-open, 2 open',
      registers: [this.registry],
      collect () { this.set(BREAKER_VALUES[sources().upstream?.().breaker ?? 'closed']) }
    })
    this.#partnerMetrics(sources)
  }

  /** Attaches state read at scrape time (each component its own part). */
  watch (sources: Partial<MetricSources>): void {
    this.#sources = { ...this.#sources, ...sources }
  }

  /** Each endpoint's queue, as its deliverer last saw it. */
  #webhookMetrics (sources: () => Partial<MetricSources>): void {
    const endpoints = (): ReturnType<MetricSources['webhooks']> => sources().webhooks?.() ?? []
    const gauge = (name: string, help: string, value: (endpoint: ReturnType<MetricSources['webhooks']>[number]) => number): void => {
      // eslint-disable-next-line no-new
      new Gauge({
        name,
        help,
        labelNames: ['endpoint'] as const,
        registers: [this.registry],
        collect () {
          this.reset()
          for (const endpoint of endpoints()) this.set({ endpoint: endpoint.endpoint }, value(endpoint))
        }
      })
    }
    gauge('vobiz_bff_webhook_queue_depth', 'Changes queued for a webhook endpoint, not yet delivered', (endpoint) => endpoint.depth)
    gauge('vobiz_bff_webhook_oldest_undelivered_seconds', 'Age of the oldest change not yet delivered to a webhook endpoint (0 when none is waiting)', (endpoint) => (endpoint.oldestAgeMs ?? 0) / 1000)
    gauge('vobiz_bff_webhook_consecutive_failures', 'Failed deliveries in a row to a webhook endpoint (0: its breaker is closed; otherwise it gets one attempt per backoff period)', (endpoint) => endpoint.failures)
    gauge('vobiz_bff_webhook_endpoints_disabled', 'Webhook endpoints disabled because they answered 410 Gone (1 each; sum() counts them): nothing is sent until the WEBHOOKS_FILE entry changes or SIGHUP', (endpoint) => endpoint.disabled ? 1 : 0)
  }

  /** The numbers the business watches, from the profile served now: nothing is reported before the first fetch. */
  #partnerMetrics (sources: () => Partial<MetricSources>): void {
    const profile = (): PartnerFacts | undefined => sources().profile?.()
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_partner_balance',
      help: 'The partner balance at Vobiz, from the latest successful fetch, by currency (empty when Vobiz sends none)',
      labelNames: ['currency'] as const,
      registers: [this.registry],
      collect () {
        this.reset()
        const facts = profile()
        if (facts !== undefined) this.set({ currency: facts.currency ?? '' }, facts.balance)
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_partner_info',
      help: 'The partner account\'s status, GST status and account type (value 1)',
      labelNames: ['status', 'gst_status', 'account_type'] as const,
      registers: [this.registry],
      collect () {
        this.reset()
        const facts = profile()
        if (facts !== undefined) this.set({ status: facts.status ?? '', gst_status: facts.gst_status ?? '', account_type: facts.account_type ?? '' }, 1)
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_bff_profile_age_seconds',
      help: 'Age of the profile this replica serves: seconds since its fetch from Vobiz started',
      registers: [this.registry],
      collect () {
        const facts = profile()
        // Absent (not 0) until there is data: a label-less gauge is only left out once removed.
        if (facts === undefined) this.remove()
        else this.set(Math.max(0, facts.ageMs / 1000))
      }
    })
    // eslint-disable-next-line no-new
    new Gauge({
      name: 'vobiz_bff_upstream_last_success_timestamp_seconds',
      help: 'When the profile this replica serves was last fetched from Vobiz successfully (by it or, with Redis, by another replica), Unix seconds',
      registers: [this.registry],
      collect () {
        const at = Math.max(sources().lastSuccessAt?.() ?? 0, profile()?.fetchedAt ?? 0)
        if (at === 0) this.remove()
        else this.set(at / 1000)
      }
    })
  }

  #openMetrics: Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE> | undefined

  /**
   * The same metrics in the OpenMetrics text format (made on the first scrape that asks for it). Not with
   * `Registry.merge`: it shares the metric objects, and prom-client 15 renames a counter *in place* when it
   * writes OpenMetrics (`x_total` becomes `x`), so after one OpenMetrics scrape the text format lost every
   * `_total`. Each metric is registered here as a view of its own (its own name, the original's values);
   * prom-client's open pull request #829 removes the mutation upstream.
   */
  openMetrics (): Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE> {
    if (this.#openMetrics === undefined) {
      const registry = new Registry() as unknown as Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>
      registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
      for (const metric of this.registry.getMetricsAsArray() as unknown as Exposed[]) registry.registerMetric(openMetricsView(metric) as unknown as Metric)
      this.#openMetrics = registry
    }
    return this.#openMetrics
  }

  /** For the upstream: one call per finished fetch. */
  observeFetch = (outcome: string, attempts: number, seconds: number): void => {
    this.upstreamDuration.observe({ outcome }, seconds)
    this.upstreamAttempts.inc(attempts)
    if (attempts > 1) this.upstreamRetries.inc(attempts - 1)
  }
}
