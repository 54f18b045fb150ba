import { createHmac, timingSafeEqual } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Agent, request } from 'undici';
import type { Alert } from './alerts.js';

export interface AlertWebhookOptions {
  url: string;
  secret: string;
  /** Delivery failures and dropped alerts; never thrown to the code that raised the alert. */
  onError: (error: Error) => void;
  /** Per attempt, and how long close() waits for the queue to drain. */
  timeoutMs?: number;
  /** First retry delay; doubles on each further retry. */
  backoffMs?: number;
}

/** undici's index, which `request()` needs, is loaded at the first delivery, not by every gateway. */
interface Delivery {
  agent: Agent;
  request: typeof request;
}

/** Alerts are rare; more than this waiting means the receiver is down and the oldest matter least. */
const MAX_QUEUED = 1_000;
const MAX_RETRIES = 3;

/** `sha256=<hex>` over `timestamp + '.' + body`, so a captured request cannot be replayed later. */
export function signWebhook(secret: string, timestamp: string | number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Checks `x-keyward-signature` in constant time. Receivers should also reject a
 * `x-keyward-timestamp` too far from their clock; the signature only proves it was not altered.
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | number,
  body: string,
  signature: string,
): boolean {
  const expected = Buffer.from(signWebhook(secret, timestamp, body));
  const given = Buffer.from(signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * POSTs alerts as signed JSON, one at a time and off the request path. A network error or 5xx is
 * retried with backoff; a 4xx is the receiver refusing and is not. Its own connection pool, so
 * close() can let go of it without touching the process-wide one.
 */
export class AlertWebhook {
  private readonly url: string;
  private readonly secret: string;
  private readonly onError: (error: Error) => void;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private delivery: Promise<Delivery> | undefined;
  private readonly abort = new AbortController();
  private queue: Alert[] = [];
  private sending = false;
  private closed = false;
  private drained: (() => void)[] = [];

  constructor(options: AlertWebhookOptions) {
    this.url = options.url;
    this.secret = options.secret;
    this.onError = options.onError;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.backoffMs = options.backoffMs ?? 250;
  }

  send(alert: Alert): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED) {
      const dropped = this.queue.shift()!;
      this.report(
        new Error(`Alert webhook queue full; dropped ${dropped.kind} alert for ${dropped.subject}`),
      );
    }
    this.queue.push(alert);
    if (!this.sending) {
      this.sending = true;
      void this.pump();
    }
  }

  /** Waits up to timeoutMs for queued alerts to go out, then gives up on the rest. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sending) {
      let timer: NodeJS.Timeout | undefined;
      const drained = new Promise<boolean>((resolve) => {
        this.drained.push(() => resolve(true));
        timer = setTimeout(() => resolve(false), this.timeoutMs);
      });
      const done = await drained;
      clearTimeout(timer);
      if (!done) {
        const lost = this.queue.length;
        this.queue = [];
        this.abort.abort();
        if (lost > 0) this.report(new Error(`Alert webhook closed with ${lost} alerts undelivered`));
      }
    }
    if (this.delivery) await (await this.delivery).agent.close().catch(() => undefined);
  }

  private deliverer(): Promise<Delivery> {
    this.delivery ??= import('undici').then(({ Agent, request }) => ({
      agent: new Agent({
        connect: { timeout: this.timeoutMs },
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      }),
      request,
    }));
    return this.delivery;
  }

  private async pump(): Promise<void> {
    try {
      for (let alert = this.queue.shift(); alert !== undefined; alert = this.queue.shift()) {
        await this.deliver(alert);
      }
    } finally {
      this.sending = false;
      for (const resolve of this.drained.splice(0)) resolve();
    }
  }

  private async deliver(alert: Alert): Promise<void> {
    const body = JSON.stringify({
      kind: alert.kind,
      subject: alert.subject,
      message: alert.message,
      at: new Date(alert.at).toISOString(),
      detail: alert.detail ?? {},
    });
    for (let attempt = 0; ; attempt++) {
      const failure = await this.post(body);
      if (failure === undefined) return;
      if (failure.permanent || attempt >= MAX_RETRIES || this.abort.signal.aborted) {
        this.report(new Error(`Alert webhook failed for ${alert.kind} alert: ${failure.reason}`));
        return;
      }
      try {
        // Unref'd: a pending retry is not a reason to keep the process alive; close() waits instead.
        await sleep(this.backoffMs * 2 ** attempt, undefined, { ref: false, signal: this.abort.signal });
      } catch {
        this.report(new Error(`Alert webhook closed while retrying ${alert.kind} alert`));
        return;
      }
    }
  }

  /** One attempt; undefined on success, else why and whether a retry could help. */
  private async post(body: string): Promise<{ reason: string; permanent: boolean } | undefined> {
    // Signed per attempt, so a retry carries a fresh timestamp that receivers will not call stale.
    const timestamp = Math.floor(Date.now() / 1000).toString();
    try {
      const { agent, request } = await this.deliverer();
      const response = await request(this.url, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'x-keyward-timestamp': timestamp,
          'x-keyward-signature': signWebhook(this.secret, timestamp, body),
        },
        body,
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      await response.body.dump();
      if (response.statusCode < 300) return undefined;
      // A redirect is not followed (the alert would go where the configuration does not say), so
      // the alert was not delivered: counted and logged as a failure, not as a delivery.
      if (response.statusCode < 400) {
        return {
          reason: `HTTP ${response.statusCode}, a redirect: the webhook has moved; set its new address as the webhook URL`,
          permanent: true,
        };
      }
      return { reason: `HTTP ${response.statusCode}`, permanent: response.statusCode < 500 };
    } catch (error) {
      return { reason: error instanceof Error ? error.message : String(error), permanent: false };
    }
  }

  private report(error: Error): void {
    try {
      this.onError(error);
    } catch {
      // The error sink is the last resort; nothing sensible is left to tell.
    }
  }
}
