import {
  AggregatorRegistry,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  type MetricObjectWithValues,
  type MetricValue,
  Registry,
} from 'prom-client';

/** Distinct model label values kept before new ones are folded into `other` (clients choose names). */
const MAX_MODEL_LABELS = 200;

export interface RequestLabels {
  route: string;
  model: string;
  provider: string;
  status: number;
}

/** One provider key as the gauges see it: ids and state only. */
export interface KeySnapshot {
  provider: string;
  id: string;
  state: 'active' | 'cooling' | 'invalid';
  createdAt: number | undefined;
}

const STATE_VALUES = { active: 0, cooling: 1, invalid: 2 } as const;

/** The audit log's queue as the metrics see it at scrape time. */
export interface AuditSnapshot {
  /** Entries waiting to be written. */
  pending: number;
  /** Entries dropped since start (the queue was full, or the log closed). */
  dropped: number;
}

/**
 * Values counted in plain maps on the request path and handed to prom-client at scrape time:
 * prom-client validates and hashes the label object on every update, which cost several µs per
 * request on a path that updates four such series.
 */
class Tally<L extends string> {
  private readonly series = new Map<string, { labels: Record<L, string>; value: number }>();

  add(key: string, labels: () => Record<L, string>, delta: number): void {
    const entry = this.series.get(key);
    if (entry) entry.value += delta;
    else this.series.set(key, { labels: labels(), value: delta });
  }

  /** For a `collect()`: every series with its current value. */
  *entries(): Generator<[Record<L, string>, number]> {
    for (const { labels, value } of this.series.values()) yield [labels, value];
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new Tally<'route' | 'model' | 'provider' | 'status'>();
  private readonly duration: Histogram<'route' | 'model' | 'provider' | 'status'>;
  private readonly upstreamLatency: Histogram<'provider' | 'status'>;
  private readonly inFlight = new Tally<'route'>();
  private readonly retries: Counter<'provider' | 'reason'>;
  private readonly streamErrors: Counter<'provider' | 'reason'>;
  private readonly seenModels = new Set<string>();
  private isAlias: (model: string) => boolean = () => false;
  private readonly keyRequests = new Tally<'provider' | 'key'>();
  private readonly keyFailures: Counter<'provider' | 'key' | 'reason'>;
  private readonly keyAlerts: Counter<'provider' | 'reason'>;
  private readonly sourceFailures: Counter<'provider' | 'source'>;
  private keySnapshot: () => readonly KeySnapshot[] = () => [];
  private auditSnapshot: () => AuditSnapshot = () => ({ pending: 0, dropped: 0 });
  private readonly limiterFailures: Counter<'mode'>;
  private readonly authFailures: Counter;
  private readonly alerts: Counter<'kind'>;
  private readonly refusedConnections: Counter<'listener' | 'reason'>;
  private readonly templateRuns: Counter<'template' | 'status'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });
    const requests = this.requests;
    new Counter({
      name: 'keyward_requests_total',
      help: 'Data-plane requests answered, by route, model, provider and HTTP status.',
      labelNames: ['route', 'model', 'provider', 'status'],
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of requests.entries()) this.inc(labels, value);
      },
    });
    this.duration = new Histogram({
      name: 'keyward_request_duration_seconds',
      help: 'Time from request received to response finished (streams included).',
      labelNames: ['route', 'model', 'provider', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'keyward_upstream_latency_seconds',
      help: 'Time from sending a request upstream to its response headers, per attempt.',
      labelNames: ['provider', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    const inFlight = this.inFlight;
    new Gauge({
      name: 'keyward_in_flight_requests',
      help: 'Data-plane requests being processed now.',
      labelNames: ['route'],
      registers,
      collect() {
        for (const [labels, value] of inFlight.entries()) this.set(labels, value);
      },
    });
    this.retries = new Counter({
      name: 'keyward_upstream_retries_total',
      help: 'Upstream attempts retried, by provider and reason (status code or error kind).',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.streamErrors = new Counter({
      name: 'keyward_stream_errors_total',
      help: 'Streams that ended with an error event instead of a clean finish.',
      labelNames: ['provider', 'reason'],
      registers,
    });
    const keyRequests = this.keyRequests;
    new Counter({
      name: 'keyward_provider_key_requests_total',
      help: 'Upstream attempts made with each provider key (by key id, never by value).',
      labelNames: ['provider', 'key'],
      registers,
      collect() {
        this.reset();
        for (const [labels, value] of keyRequests.entries()) this.inc(labels, value);
      },
    });
    this.keyFailures = new Counter({
      name: 'keyward_provider_key_failures_total',
      help: 'Provider keys rate limited (429) or refused (401/403) by their provider.',
      labelNames: ['provider', 'key', 'reason'],
      registers,
    });
    this.keyAlerts = new Counter({
      name: 'keyward_provider_key_alerts_total',
      help: 'Alerts raised about provider keys: refused by the provider, or older than rotationDays.',
      labelNames: ['provider', 'reason'],
      registers,
    });
    this.sourceFailures = new Counter({
      name: 'keyward_key_source_refresh_failures_total',
      help: 'Key source loads that failed; the keys loaded last stay in use.',
      labelNames: ['provider', 'source'],
      registers,
    });
    this.limiterFailures = new Counter({
      name: 'keyward_rate_limiter_unavailable_total',
      help: 'Times the shared rate-limit backend could not be asked, by the fail mode applied.',
      labelNames: ['mode'],
      registers,
    });
    this.authFailures = new Counter({
      name: 'keyward_auth_failures_total',
      help: 'Data-plane requests refused for a missing, invalid, expired or revoked credential.',
      registers,
    });
    this.alerts = new Counter({
      name: 'keyward_alerts_total',
      help: 'Anomaly alerts raised: request or spend spikes, auth failure bursts, exhausted budgets, key problems.',
      labelNames: ['kind'],
      registers,
    });
    this.refusedConnections = new Counter({
      name: 'keyward_connections_refused_total',
      help: 'Connections turned away: over server.maxConnections, or over the per-address cap.',
      labelNames: ['listener', 'reason'],
      registers,
    });
    this.templateRuns = new Counter({
      name: 'keyward_template_runs_total',
      help: 'Prompt template runs answered, by template and HTTP status.',
      labelNames: ['template', 'status'],
      registers,
    });
    const audit = () => this.auditSnapshot();
    new Gauge({
      name: 'keyward_audit_pending_entries',
      help: 'Audit entries queued and not yet written to the store; a growing value means the store is not keeping up.',
      registers,
      collect() {
        this.set(audit().pending);
      },
    });
    new Counter({
      name: 'keyward_audit_dropped_total',
      help: 'Audit entries dropped because the queue was full (the store unwritable for long), or recorded after shutdown began.',
      registers,
      collect() {
        this.reset();
        this.inc(audit().dropped);
      },
    });
    const snapshot = () => this.keySnapshot();
    new Gauge({
      name: 'keyward_provider_key_state',
      help: 'State of each provider key: 0 active, 1 cooling down after a 429 (for every model or some), 2 refused by the provider.',
      labelNames: ['provider', 'key'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const key of snapshot())
          this.set({ provider: key.provider, key: key.id }, STATE_VALUES[key.state]);
      },
    });
    new Gauge({
      name: 'keyward_provider_key_age_seconds',
      help: 'Age of each provider key whose source records when it was created.',
      labelNames: ['provider', 'key'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        const now = Date.now();
        for (const key of snapshot()) {
          if (key.createdAt !== undefined)
            this.set({ provider: key.provider, key: key.id }, (now - key.createdAt) / 1000);
        }
      },
    });
  }

  /** Where the audit queue's metrics read from at scrape time. */
  observeAudit(snapshot: () => AuditSnapshot): void {
    this.auditSnapshot = snapshot;
  }

  /** Where the key gauges read from at scrape time. */
  observeKeys(snapshot: () => readonly KeySnapshot[]): void {
    this.keySnapshot = snapshot;
  }

  limiterUnavailable(mode: 'closed' | 'open'): void {
    this.limiterFailures.inc({ mode });
  }

  connectionRefused(listener: 'data' | 'admin', reason: 'max_connections' | 'per_address'): void {
    this.refusedConnections.inc({ listener, reason });
  }

  alertRaised(kind: string): void {
    this.alerts.inc({ kind });
  }

  authFailed(): void {
    this.authFailures.inc();
  }

  providerKeyUsed(provider: string, key: string): void {
    this.keyRequests.add(`${provider}\0${key}`, () => ({ provider, key }), 1);
  }

  providerKeyFailed(provider: string, key: string, reason: 'rate_limited' | 'rejected'): void {
    this.keyFailures.inc({ provider, key, reason });
  }

  providerKeyAlert(provider: string, reason: string): void {
    this.keyAlerts.inc({ provider, reason });
  }

  keySourceFailed(provider: string, source: string): void {
    this.sourceFailures.inc({ provider, source });
  }

  /**
   * Configured aliases are labelled by name, always: otherwise a client sending made-up model
   * names first would file the configured ones under `other` for the life of the process.
   */
  labelAliases(isAlias: (model: string) => boolean): void {
    this.isAlias = isAlias;
  }

  /** Bounds label cardinality: other model names come from clients. */
  modelLabel(model: string): string {
    if (this.isAlias(model) || this.seenModels.has(model)) return model;
    if (this.seenModels.size >= MAX_MODEL_LABELS) return 'other';
    this.seenModels.add(model);
    return model;
  }

  /** Data-plane requests being processed now, all routes together. */
  inFlightNow(): number {
    let total = 0;
    for (const [, value] of this.inFlight.entries()) total += value;
    return total;
  }

  requestStarted(route: string): void {
    this.inFlight.add(route, () => ({ route }), 1);
  }

  requestFinished(labels: RequestLabels, seconds: number): void {
    const { route, provider, status } = labels;
    const model = this.modelLabel(labels.model);
    this.inFlight.add(route, () => ({ route }), -1);
    const values = () => ({ route, model, provider, status: String(status) });
    this.requests.add(`${route}\0${model}\0${provider}\0${status}`, values, 1);
    this.duration.observe(values(), seconds);
  }

  /** Template names come from the operator, not from clients: no cardinality cap is needed. */
  templateRunFinished(template: string, status: number): void {
    this.templateRuns.inc({ template, status: String(status) });
  }

  upstreamResponded(provider: string, status: number | 'error', seconds: number): void {
    this.upstreamLatency.observe({ provider, status: String(status) }, seconds);
  }

  upstreamRetried(provider: string, reason: string): void {
    this.retries.inc({ provider, reason });
  }

  streamFailed(provider: string, reason: string): void {
    this.streamErrors.inc({ provider, reason });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** This process's metrics as data, for `aggregateMetrics` in another. */
  parts(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.registry.getMetricsAsJSON();
  }
}

/**
 * The workers' metrics (`Metrics.parts` of each) as one exposition: counters and histograms add
 * up, as do gauges of things each worker holds (requests in flight); a key's state and age, which
 * every worker sees alike, are the highest; Node's own metrics follow prom-client's rules.
 */
export function aggregateMetrics(parts: readonly unknown[]): Promise<string> {
  return AggregatorRegistry.aggregate(parts as MetricObjectWithValues<MetricValue<string>>[][]).metrics();
}
