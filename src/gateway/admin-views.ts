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
}

/**
 * This process's views; in a worker of `keyward start --workers N` (given its `channel`), every
 * worker's together, since the cluster hands each scrape or dashboard call to one worker only.
 */
export function adminViews({ metrics, live, recentAlerts }: Telemetry, channel?: IpcChannel): AdminViews {
  const own = {
    metrics: () => metrics.parts(),
    live: () => live.view(metrics.inFlightNow()),
    alerts: () => recentAlerts,
  };
  if (!channel) {
    return {
      prometheus: () => metrics.render(),
      live: async () => own.live(),
      alerts: async () => own.alerts(),
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
  };
}
