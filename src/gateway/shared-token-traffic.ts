import { type IpcChannel, ipcMessage } from '../limits/index.js';
import { type Alert, AlertMonitor } from '../observability/index.js';
import type { WorkerChannel } from './cluster-gather.js';

/** worker → primary, once a second: each token's requests and spend since the last report. */
interface TrafficMessage {
  keyward: 'token-traffic';
  /** The spike factor this worker is configured with (SIGHUP may change it). */
  spikeFactor: number;
  tokens: Array<[tokenId: string, requests: number, costMicros: number]>;
}
/** primary → the worker whose report made the spike. */
interface SpikeMessage {
  keyward: 'token-spike';
  alert: Alert;
}

const isTraffic = ipcMessage<TrafficMessage>('token-traffic');
const isSpike = ipcMessage<SpikeMessage>('token-spike');

/** How often a worker reports its tokens' traffic: the most a spike's alert can lag. */
const REPORT_EVERY_MS = 1_000;

/**
 * A worker of `--workers N`: its tokens' requests and spend are counted by the primary with every
 * other worker's. Round-robin gives each worker about 1/N of a token's traffic, so on its own a
 * worker saw a spike's ratio but rarely its floor (20 requests or $1 in the minute), and reported
 * 1/N of the count when it did. A second's counts travel as one message; the request path only
 * adds to a map. Returns the stop for shutdown.
 */
export function shareTokenTraffic(
  alerts: AlertMonitor,
  channel: IpcChannel,
  everyMs = REPORT_EVERY_MS,
): () => void {
  let counted = new Map<string, { requests: number; costMicros: number }>();
  let spikeFactor = 0;
  alerts.countRequestsWith((tokenId, costMicros, factor) => {
    spikeFactor = factor;
    // biome-ignore lint/complexity/useMathMinMax: a NaN cost counts as none, and Math.max(NaN, 0) is NaN.
    const cost = costMicros > 0 ? costMicros : 0;
    const token = counted.get(tokenId);
    if (token) {
      token.requests++;
      token.costMicros += cost;
    } else {
      counted.set(tokenId, { requests: 1, costMicros: cost });
    }
  });
  const report = () => {
    if (counted.size === 0) return;
    const tokens: TrafficMessage['tokens'] = [];
    for (const [tokenId, { requests, costMicros }] of counted) tokens.push([tokenId, requests, costMicros]);
    counted = new Map();
    channel.send({ keyward: 'token-traffic', spikeFactor, tokens } satisfies TrafficMessage);
  };
  const timer = setInterval(report, everyMs);
  timer.unref();
  channel.on('message', (message) => {
    if (isSpike(message)) alerts.spike(message.alert);
  });
  return () => clearInterval(timer);
}

/**
 * The primary's count of every worker's token traffic, in one `AlertMonitor`'s windows. The worker
 * whose report makes a spike is told, and raises the alert: once a minute per token in all.
 */
export class TokenTrafficTally {
  private readonly monitor: AlertMonitor;
  /** The worker whose report is being counted, while it is. */
  private reporter: WorkerChannel | undefined;

  constructor(now: () => number = Date.now) {
    this.monitor = new AlertMonitor({
      spikeFactor: Number.POSITIVE_INFINITY,
      authFailuresPerMinute: Number.POSITIVE_INFINITY,
      emit: (alert) => {
        if (this.reporter?.isConnected())
          this.reporter.send({ keyward: 'token-spike', alert } satisfies SpikeMessage);
      },
      now,
    });
  }

  attach(worker: WorkerChannel): void {
    worker.on('message', (message) => {
      if (!isTraffic(message)) return;
      this.monitor.reconfigure({
        spikeFactor: message.spikeFactor,
        authFailuresPerMinute: Number.POSITIVE_INFINITY,
      });
      this.reporter = worker;
      try {
        for (const [tokenId, requests, costMicros] of message.tokens) {
          this.monitor.count(tokenId, requests, costMicros);
        }
      } finally {
        this.reporter = undefined;
      }
    });
  }
}
