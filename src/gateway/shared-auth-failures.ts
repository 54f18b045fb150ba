import { type IpcChannel, ipcMessage } from '../limits/index.js';
import type { AlertMonitor } from '../observability/index.js';
import type { WorkerChannel } from './cluster-gather.js';

const MINUTE_MS = 60_000;

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
  private minute = -1;
  private failures = 0;
  private alertedMinute = -1;

  constructor(private readonly now: () => number = Date.now) {}

  attach(worker: WorkerChannel): void {
    worker.on('message', (message) => {
      if (!isFailure(message)) return;
      const minute = Math.floor(this.now() / MINUTE_MS);
      if (minute !== this.minute) {
        this.minute = minute;
        this.failures = 0;
      }
      this.failures++;
      if (this.failures <= message.threshold || this.alertedMinute === minute) return;
      this.alertedMinute = minute;
      if (worker.isConnected())
        worker.send({
          keyward: 'auth-burst',
          failures: this.failures,
          threshold: message.threshold,
        } satisfies AuthBurstMessage);
    });
  }
}
