import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** Distinct model label values kept before new ones are folded into `other` (clients choose names). */
const MAX_MODEL_LABELS = 200;

export interface RequestLabels {
  route: string;
  model: string;
  provider: string;
  status: number;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'route' | 'model' | 'provider' | 'status'>;
  private readonly duration: Histogram<'route' | 'model' | 'provider' | 'status'>;
  private readonly upstreamLatency: Histogram<'provider' | 'status'>;
  private readonly inFlight: Gauge<'route'>;
  private readonly retries: Counter<'provider' | 'reason'>;
  private readonly streamErrors: Counter<'provider' | 'reason'>;
  private readonly seenModels = new Set<string>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });
    this.requests = new Counter({
      name: 'keyward_requests_total',
      help: 'Data-plane requests answered, by route, model, provider and HTTP status.',
      labelNames: ['route', 'model', 'provider', 'status'],
      registers,
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
    this.inFlight = new Gauge({
      name: 'keyward_in_flight_requests',
      help: 'Data-plane requests being processed now.',
      labelNames: ['route'],
      registers,
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
  }

  /** Bounds label cardinality: model names come from clients. */
  modelLabel(model: string): string {
    if (this.seenModels.has(model)) return model;
    if (this.seenModels.size >= MAX_MODEL_LABELS) return 'other';
    this.seenModels.add(model);
    return model;
  }

  requestStarted(route: string): void {
    this.inFlight.inc({ route });
  }

  requestFinished(labels: RequestLabels, seconds: number): void {
    const values = { ...labels, model: this.modelLabel(labels.model) };
    this.inFlight.dec({ route: labels.route });
    this.requests.inc(values);
    this.duration.observe(values, seconds);
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
}
