import { type KeyUse, keyUseId } from '../admin/keys.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import type { IpcChannel } from '../limits/index.js';
import { type Alert, aggregateMetrics, type LiveView, mergeLiveViews } from '../observability/index.js';
import { workerGather } from './cluster-gather.js';
import { RECENT_ALERTS, type Telemetry } from './telemetry.js';

/** What the admin plane reports of the traffic each process counts in its own memory. */
export interface AdminViews {
  /** The Prometheus exposition. */
  prometheus(): Promise<string>;
  /** The dashboard's live last hour. */
  live(): Promise<LiveView>;
  /** The alerts raised since start, newest last. */
  alerts(): Promise<readonly Alert[]>;
  /** Each provider key's requests and last refusal, by `keyUseId`. */
  keyUse(): Promise<ReadonlyMap<string, KeyUse>>;
  /** Writes the usage and audit records still held in memory, before the store is read. */
  written(): Promise<void>;
}

/** What this process holds beside its telemetry. */
export interface ViewSources {
  providers: ReadonlyMap<string, ProviderRuntime>;
  /** Writes this process's pending usage and audit records. */
  write(): Promise<void>;
}

/**
 * This process's views; in a worker of `keyward start --workers N` (given its `channel`), every
 * worker's together, since the cluster hands each scrape or dashboard call to one worker only.
 */
export function adminViews(
  { metrics, live, recentAlerts }: Telemetry,
  { providers, write }: ViewSources,
  channel?: IpcChannel,
): AdminViews {
  const own = {
    metrics: () => metrics.parts(),
    live: () => live.view(metrics.inFlightNow()),
    alerts: () => recentAlerts,
    keys: () => keyUseOf(providers),
    flush: async () => {
      await write();
      return true;
    },
  };
  if (!channel) {
    return {
      prometheus: () => metrics.render(),
      live: async () => own.live(),
      alerts: async () => own.alerts(),
      keyUse: async () => new Map(own.keys()),
      written: write,
    };
  }
  const gather = workerGather(channel, own);
  return {
    prometheus: async () => aggregateMetrics(await gather('metrics')),
    live: async () => mergeLiveViews((await gather('live')) as LiveView[]),
    alerts: async () =>
      ((await gather('alerts')) as Alert[][])
        .flat()
        .sort((a, b) => a.at - b.at)
        .slice(-RECENT_ALERTS),
    keyUse: async () => mergeKeyUse((await gather('keys')) as Array<Array<[string, KeyUse]>>),
    written: async () => {
      await gather('flush');
    },
  };
}

function keyUseOf(providers: ReadonlyMap<string, ProviderRuntime>): Array<[string, KeyUse]> {
  return [...providers.values()].flatMap((runtime) =>
    runtime.keys.pool
      .list()
      .map((key): [string, KeyUse] => [
        keyUseId(runtime.id, key.id),
        { requests: key.requests, lastFailure: key.lastFailure },
      ]),
  );
}

/** The workers' counts of each key: requests add up, the latest refusal stands. */
function mergeKeyUse(parts: ReadonlyArray<ReadonlyArray<[string, KeyUse]>>): Map<string, KeyUse> {
  const merged = new Map<string, KeyUse>();
  for (const [id, use] of parts.flat()) {
    const into = merged.get(id);
    if (!into) merged.set(id, { ...use });
    else {
      into.requests += use.requests;
      if (use.lastFailure && (!into.lastFailure || use.lastFailure.at > into.lastFailure.at))
        into.lastFailure = use.lastFailure;
    }
  }
  return merged;
}
