import { type IpcChannel, ipcMessage } from '../limits/index.js';
import { type AlertMonitor, MinuteBurst } from '../observability/index.js';
import type { WorkerChannel } from './cluster-gather.js';

/** worker → primary: one failed authentication, and the threshold this worker is configured with. */
interface AuthFailureMessage {
  keyward: 'auth-failure';
  threshold: number;
}
/** primary → the worker whose failure made the burst. */
interface AuthBurstMessage {
  keyward: 'auth-burst';
  failures: number;
  threshold: number;
}

const isFailure = ipcMessage<AuthFailureMessage>('auth-failure');
const isBurst = ipcMessage<AuthBurstMessage>('auth-burst');

/**
 * A worker of `--workers N`: its failed authentications are counted by the primary with every
 * other worker's, so a burst spread over the workers raises the alert at the configured rate, not
 * at N times it.
 */
export function shareAuthFailures(alerts: AlertMonitor, channel: IpcChannel): void {
  alerts.countAuthFailuresWith((threshold) =>
    channel.send({ keyward: 'auth-failure', threshold } satisfies AuthFailureMessage),
  );
  channel.on('message', (message) => {
    if (isBurst(message)) alerts.authBurst(message.failures, message.threshold);
  });
}

/**
 * The primary's count of every worker's failed authentications, per minute. The worker whose
 * failure goes over the threshold is told, and raises the alert: once a minute in all.
 */
export class AuthFailureTally {
  private readonly bursts = new MinuteBurst();

  constructor(private readonly now: () => number = Date.now) {}

  attach(worker: WorkerChannel): void {
    worker.on('message', (message) => {
      if (!isFailure(message)) return;
      const failures = this.bursts.add(this.now(), message.threshold);
      if (failures === undefined || !worker.isConnected()) return;
      worker.send({
        keyward: 'auth-burst',
        failures,
        threshold: message.threshold,
      } satisfies AuthBurstMessage);
    });
  }
}
