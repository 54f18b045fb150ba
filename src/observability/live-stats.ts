/**
 * The last hour of data-plane traffic, second by second, for the dashboard's live charts: requests,
 * client and server errors, latency quantiles, tokens and cost. Kept in memory in a ring of 3 600
 * buckets; recording a request is a few increments (and, past 256 requests in one second, a
 * reservoir draw), so it can sit beside the metrics on every request.
 */
const RING_SECONDS = 3600;
const LATENCY_SAMPLES = 256;
/**
 * Model names other than the configured aliases the ring holds at once; the rest are counted as
 * `other`. Clients choose them (`<provider>/<anything>`), and each is kept for every second it was
 * asked in, for an hour: uncapped, 45,000 made-up names took 19 MB of heap and a 24 MB view.
 */
export const MAX_CLIENT_MODELS = 20;
/** Where requests for model names past the cap are counted. */
export const OTHER_MODELS = 'other';

/** Requests, errors, tokens, cost. */
type Counts = [number, number, number, number];

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
  providers: Map<string, Counts>;
  models: Map<string, Counts>;
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
  /**
   * Requests in this second for each of the view's `providers` and `models`, in their order: a
   * name is sent once for the hour, not once for each second it was asked in.
   */
  byProvider: number[];
  byModel: number[];
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
  const providers = mergeGroups(views.map((view) => view.providers));
  const models = mergeGroups(views.map((view) => view.models));
  const providerAt = new Map(providers.map((group, i) => [group.name, i]));
  const modelAt = new Map(models.map((group, i) => [group.name, i]));
  const seconds = new Map<number, LiveSecond & { weighted: number }>();
  for (const view of views) {
    for (const second of view.seconds) {
      let into = seconds.get(second.t);
      if (!into) {
        into = {
          t: second.t,
          requests: 0,
          clientErrors: 0,
          serverErrors: 0,
          tokens: 0,
          costMicros: 0,
          p50Ms: second.p50Ms,
          p99Ms: 0,
          byProvider: providers.map(() => 0),
          byModel: models.map(() => 0),
          weighted: 0,
        };
        seconds.set(second.t, into);
      }
      into.requests += second.requests;
      into.clientErrors += second.clientErrors;
      into.serverErrors += second.serverErrors;
      into.tokens += second.tokens;
      into.costMicros += second.costMicros;
      into.weighted += second.p50Ms * second.requests;
      into.p99Ms = Math.max(into.p99Ms, second.p99Ms);
      addCounts(into.byProvider, second.byProvider, view.providers, providerAt);
      addCounts(into.byModel, second.byModel, view.models, modelAt);
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
    providers,
    models,
  };
}

/** `counts`, one a group of `groups`, added to `into` at each group's place in the merged list. */
function addCounts(
  into: number[],
  counts: readonly number[],
  groups: readonly LiveGroup[],
  at: ReadonlyMap<string, number>,
): void {
  counts.forEach((count, i) => {
    const place = at.get(groups[i]!.name)!;
    into[place] = into[place]! + count;
  });
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

/** A model name the ring holds: one string for all its seconds, and how many of them hold it. */
interface HeldName {
  name: string;
  seconds: number;
  /** Chosen by a client, not a configured alias: counts toward the cap. */
  client: boolean;
}

export class LiveStats {
  private readonly ring: Bucket[] = [];
  /** The second being counted; its latency samples are kept until the next one starts. */
  private current: Bucket | undefined;
  private readonly names = new Map<string, HeldName>();
  private clientNames = 0;
  private isAlias: (model: string) => boolean = () => false;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * Configured aliases are counted by name, always, as in the metrics: otherwise clients sending
   * made-up names first would file the configured ones under `other`.
   */
  labelAliases(isAlias: (model: string) => boolean): void {
    this.isAlias = isAlias;
  }

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
    if (route?.provider) add(bucket.providers, route.provider, failed, tokens, costMicros);
    if (route?.model) add(bucket.models, this.modelName(route.model, bucket), failed, tokens, costMicros);
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

  /** The dashboard's view of the last hour (the seconds that saw traffic, oldest first), with the requests in flight now. */
  view(inFlight: number): LiveView {
    const since = Math.floor(this.now() / 1000) - RING_SECONDS;
    const buckets = this.ring.filter((bucket) => bucket.second > since).sort((a, b) => a.second - b.second);
    const providers = totals(buckets, (bucket) => bucket.providers);
    const models = totals(buckets, (bucket) => bucket.models);
    const seconds = buckets.map((bucket): LiveSecond => {
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
        byProvider: providers.map((group) => bucket.providers.get(group.name)?.[0] ?? 0),
        byModel: models.map((group) => bucket.models.get(group.name)?.[0] ?? 0),
      };
    });
    return { inFlight, seconds, providers, models };
  }

  /**
   * The name `model` is counted under in `bucket`: its own while the ring holds it, a configured
   * alias, or a client's name within the cap; `other` past the cap.
   */
  private modelName(model: string, bucket: Bucket): string {
    let held = this.names.get(model);
    if (!held) {
      const client = !this.isAlias(model);
      if (client && this.clientNames >= MAX_CLIENT_MODELS) return OTHER_MODELS;
      if (client) this.clientNames++;
      held = { name: model, seconds: 0, client };
      this.names.set(model, held);
    }
    if (!bucket.models.has(held.name)) held.seconds++;
    return held.name;
  }

  /** A second leaves the ring: a name no other second holds makes room for another. */
  private release(bucket: Bucket): void {
    for (const name of bucket.models.keys()) {
      const held = this.names.get(name);
      if (!held || --held.seconds > 0) continue;
      this.names.delete(name);
      if (held.client) this.clientNames--;
    }
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
      if (bucket) this.release(bucket);
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
        providers: new Map(),
        models: new Map(),
      };
      this.ring[slot] = bucket;
    }
    this.current = bucket;
    return bucket;
  }
}

function add(
  groups: Map<string, Counts>,
  name: string,
  errors: number,
  tokens: number,
  costMicros: number,
): void {
  const group = groups.get(name);
  if (group) {
    group[0]++;
    group[1] += errors;
    group[2] += tokens;
    group[3] += costMicros;
  } else groups.set(name, [1, errors, tokens, costMicros]);
}

/** Each name's share of `buckets`, busiest first. */
function totals(buckets: readonly Bucket[], groupsOf: (bucket: Bucket) => Map<string, Counts>): LiveGroup[] {
  const byName = new Map<string, LiveGroup>();
  for (const bucket of buckets) {
    for (const [name, [requests, errors, tokens, costMicros]] of groupsOf(bucket)) {
      const group = byName.get(name);
      if (!group) byName.set(name, { name, requests, errors, tokens, costMicros });
      else {
        group.requests += requests;
        group.errors += errors;
        group.tokens += tokens;
        group.costMicros += costMicros;
      }
    }
  }
  return [...byName.values()].sort((a, b) => b.requests - a.requests);
}
