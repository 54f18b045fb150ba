/**
 * The last hour of data-plane traffic, second by second, for the dashboard's live charts: requests,
 * client and server errors, latency quantiles, tokens and cost. Kept in memory in a ring of 3 600
 * buckets; recording a request is a few increments (and, past 256 requests in one second, a
 * reservoir draw), so it can sit beside the metrics on every request.
 */
const RING_SECONDS = 3600;
const LATENCY_SAMPLES = 256;

interface Bucket {
  second: number;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  tokens: number;
  costMicros: number;
  /** Up to 256 samples while the second lasts; emptied once its quantiles are taken. */
  latencies: number[];
  p50Ms: number;
  p99Ms: number;
  /** Per `provider:<id>` and `model:<alias>`: requests, errors, tokens, cost. */
  groups: Map<string, [number, number, number, number]>;
}

/** One provider's or model's share of the last hour. */
export interface LiveGroup {
  name: string;
  requests: number;
  errors: number;
  tokens: number;
  costMicros: number;
}

export interface LiveSecond {
  /** Epoch seconds. */
  t: number;
  requests: number;
  clientErrors: number;
  serverErrors: number;
  tokens: number;
  costMicros: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests by provider and by model alias in this second. */
  byProvider: Record<string, number>;
  byModel: Record<string, number>;
}

/** What the dashboard's live charts show: requests in flight now, and the last hour. */
export interface LiveView {
  inFlight: number;
  seconds: LiveSecond[];
  providers: LiveGroup[];
  models: LiveGroup[];
}

/**
 * The views of several workers as one. Counts add up. A second's quantiles cannot be recombined
 * from the workers' own: its p50 is their average weighted by requests, its p99 the highest.
 */
export function mergeLiveViews(views: readonly LiveView[]): LiveView {
  const seconds = new Map<number, LiveSecond & { weighted: number }>();
  for (const view of views) {
    for (const second of view.seconds) {
      const into = seconds.get(second.t);
      if (!into) {
        seconds.set(second.t, {
          ...second,
          byProvider: { ...second.byProvider },
          byModel: { ...second.byModel },
          weighted: second.p50Ms * second.requests,
        });
        continue;
      }
      into.requests += second.requests;
      into.clientErrors += second.clientErrors;
      into.serverErrors += second.serverErrors;
      into.tokens += second.tokens;
      into.costMicros += second.costMicros;
      into.weighted += second.p50Ms * second.requests;
      into.p99Ms = Math.max(into.p99Ms, second.p99Ms);
      addCounts(into.byProvider, second.byProvider);
      addCounts(into.byModel, second.byModel);
    }
  }
  return {
    inFlight: views.reduce((sum, view) => sum + view.inFlight, 0),
    seconds: [...seconds.values()]
      .sort((a, b) => a.t - b.t)
      .map(({ weighted, ...second }) => ({
        ...second,
        p50Ms: second.requests > 0 ? weighted / second.requests : second.p50Ms,
      })),
    providers: mergeGroups(views.map((view) => view.providers)),
    models: mergeGroups(views.map((view) => view.models)),
  };
}

/** Names come from clients (`constructor` is a model name too): only own counts are added to. */
function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [name, count] of Object.entries(from))
    into[name] = (Object.hasOwn(into, name) ? into[name]! : 0) + count;
}

function mergeGroups(lists: readonly (readonly LiveGroup[])[]): LiveGroup[] {
  const byName = new Map<string, LiveGroup>();
  for (const group of lists.flat()) {
    const into = byName.get(group.name);
    if (!into) byName.set(group.name, { ...group });
    else {
      into.requests += group.requests;
      into.errors += group.errors;
      into.tokens += group.tokens;
      into.costMicros += group.costMicros;
    }
  }
  return [...byName.values()].sort((a, b) => b.requests - a.requests);
}

const quantile = (sorted: readonly number[], q: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

/** The p50 and p99 of `samples`. */
function quantiles(samples: readonly number[]): [number, number] {
  const sorted = [...samples].sort((a, b) => a - b);
  return [quantile(sorted, 0.5), quantile(sorted, 0.99)];
}

export class LiveStats {
  private readonly ring: Bucket[] = [];
  /** The second being counted; its latency samples are kept until the next one starts. */
  private current: Bucket | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** One finished data-plane request, and the provider and model alias it went to, when it got that far. */
  finished(
    status: number,
    ms: number,
    tokens: number,
    costMicros: number,
    route?: { provider: string | undefined; model: string | undefined },
  ): void {
    const bucket = this.bucket(Math.floor(this.now() / 1000));
    const failed = status >= 400 ? 1 : 0;
    if (route?.provider) add(bucket.groups, `provider:${route.provider}`, failed, tokens, costMicros);
    if (route?.model) add(bucket.groups, `model:${route.model}`, failed, tokens, costMicros);
    bucket.requests++;
    if (status >= 500) bucket.serverErrors++;
    else if (status >= 400) bucket.clientErrors++;
    bucket.tokens += tokens;
    bucket.costMicros += costMicros;
    if (bucket.latencies.length < LATENCY_SAMPLES) bucket.latencies.push(ms);
    else {
      const slot = Math.floor(Math.random() * bucket.requests);
      if (slot < LATENCY_SAMPLES) bucket.latencies[slot] = ms;
    }
  }

  /** The dashboard's view, with the requests in flight now. */
  view(inFlight: number): LiveView {
    return { inFlight, seconds: this.lastHour(), ...this.lastHourByGroup() };
  }

  /** Every second of the last hour that saw traffic, oldest first. */
  lastHour(): LiveSecond[] {
    const since = Math.floor(this.now() / 1000) - RING_SECONDS;
    return this.ring
      .filter((bucket) => bucket.second > since)
      .sort((a, b) => a.second - b.second)
      .map((bucket) => {
        const [p50Ms, p99Ms] =
          bucket === this.current ? quantiles(bucket.latencies) : [bucket.p50Ms, bucket.p99Ms];
        return {
          t: bucket.second,
          requests: bucket.requests,
          clientErrors: bucket.clientErrors,
          serverErrors: bucket.serverErrors,
          tokens: bucket.tokens,
          costMicros: bucket.costMicros,
          p50Ms,
          p99Ms,
          byProvider: requestsOf(bucket.groups, 'provider:'),
          byModel: requestsOf(bucket.groups, 'model:'),
        };
      });
  }

  /** The last hour by provider and by model alias, busiest first. */
  lastHourByGroup(): { providers: LiveGroup[]; models: LiveGroup[] } {
    const since = Math.floor(this.now() / 1000) - RING_SECONDS;
    const totals = new Map<string, [number, number, number, number]>();
    for (const bucket of this.ring) {
      if (!bucket || bucket.second <= since) continue;
      for (const [name, [requests, errors, tokens, cost]] of bucket.groups)
        add(totals, name, errors, tokens, cost, requests);
    }
    const of = (prefix: string): LiveGroup[] =>
      [...totals]
        .filter(([name]) => name.startsWith(prefix))
        .map(([name, [requests, errors, tokens, costMicros]]) => ({
          name: name.slice(prefix.length),
          requests,
          errors,
          tokens,
          costMicros,
        }))
        .sort((a, b) => b.requests - a.requests);
    return { providers: of('provider:'), models: of('model:') };
  }

  private bucket(second: number): Bucket {
    if (this.current?.second === second) return this.current;
    // A finished second keeps its two quantiles, not its samples: up to 256 numbers a second for
    // an hour were the ring's largest part under load (7 MB or more when full).
    if (this.current) {
      [this.current.p50Ms, this.current.p99Ms] = quantiles(this.current.latencies);
      this.current.latencies = [];
    }
    const slot = second % RING_SECONDS;
    let bucket = this.ring[slot];
    if (bucket?.second !== second) {
      bucket = {
        second,
        requests: 0,
        clientErrors: 0,
        serverErrors: 0,
        tokens: 0,
        costMicros: 0,
        latencies: [],
        p50Ms: 0,
        p99Ms: 0,
        groups: new Map(),
      };
      this.ring[slot] = bucket;
    }
    this.current = bucket;
    return bucket;
  }
}

function add(
  groups: Map<string, [number, number, number, number]>,
  name: string,
  errors: number,
  tokens: number,
  costMicros: number,
  requests = 1,
): void {
  const group = groups.get(name);
  if (group) {
    group[0] += requests;
    group[1] += errors;
    group[2] += tokens;
    group[3] += costMicros;
  } else groups.set(name, [requests, errors, tokens, costMicros]);
}

function requestsOf(
  groups: Map<string, [number, number, number, number]>,
  prefix: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, [requests]] of groups)
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = requests;
  return out;
}
