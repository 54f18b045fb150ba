import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { shareTokenTraffic, TokenTrafficTally } from '../../src/gateway/shared-token-traffic.js';
import { type Alert, AlertMonitor, MAX_TRACKED_TOKENS } from '../../src/observability/alerts.js';
import { AlertWebhook, verifyWebhookSignature } from '../../src/observability/webhook.js';

const MINUTE = 60_000;

function monitor(options: { spikeFactor?: number; authFailuresPerMinute?: number } = {}) {
  const clock = { t: Date.UTC(2025, 0, 1) };
  const alerts: Alert[] = [];
  const m = new AlertMonitor({
    spikeFactor: options.spikeFactor ?? 10,
    authFailuresPerMinute: options.authFailuresPerMinute ?? 100,
    emit: (alert) => alerts.push(alert),
    now: () => clock.t,
  });
  return { m, alerts, clock };
}

/** `perMinute` requests of `cost` micros in each of `minutes` minutes, then the clock is on a new minute. */
function steady(
  m: AlertMonitor,
  clock: { t: number },
  tokenId: string,
  minutes: number,
  perMinute: number,
  cost = 0,
) {
  for (let i = 0; i < minutes; i++) {
    for (let r = 0; r < perMinute; r++) m.request(tokenId, cost);
    clock.t += MINUTE;
  }
}

describe('AlertMonitor request spikes', () => {
  it('raises one request_spike for the spiking token in that minute, none for a steady one', () => {
    const { m, alerts, clock } = monitor();
    for (let i = 0; i < 30; i++) {
      for (let r = 0; r < 5; r++) {
        m.request('tok_spiky', 0);
        m.request('tok_steady', 0);
      }
      clock.t += MINUTE;
    }
    for (let r = 0; r < 200; r++) m.request('tok_spiky', 0);
    for (let r = 0; r < 5; r++) m.request('tok_steady', 0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'request_spike', subject: 'tok_spiky', at: clock.t });
    // The threshold is crossed strictly above 10 × the average of 5.
    expect(alerts[0]!.detail).toEqual({ requests: 51, averagePerMinute: 5, spikeFactor: 10 });
  });

  it('raises again in a later minute, but never twice in one', () => {
    const { m, alerts, clock } = monitor();
    steady(m, clock, 'tok', 10, 2);
    for (let r = 0; r < 100; r++) m.request('tok', 0);
    expect(alerts).toHaveLength(1);
    clock.t += MINUTE;
    for (let r = 0; r < 500; r++) m.request('tok', 0);
    expect(alerts.map((a) => a.kind)).toEqual(['request_spike', 'request_spike']);
  });

  it('stays quiet without five minutes of history', () => {
    const { m, alerts, clock } = monitor();
    steady(m, clock, 'tok', 4, 1);
    for (let r = 0; r < 1000; r++) m.request('tok', 0);
    expect(alerts).toHaveLength(0);
  });

  it('stays quiet below the floor: a quiet token going from 1 to 11 requests', () => {
    const { m, alerts, clock } = monitor();
    steady(m, clock, 'tok', 30, 1);
    for (let r = 0; r < 11; r++) m.request('tok', 0);
    expect(alerts).toHaveLength(0);
    // The same token crossing the floor does alert.
    for (let r = 0; r < 10; r++) m.request('tok', 0);
    expect(alerts).toHaveLength(1);
  });

  it('averages over the last hour only, counting silent minutes', () => {
    const { m, alerts, clock } = monitor();
    // A busy hour long ago leaves no baseline once it is more than an hour old.
    steady(m, clock, 'tok', 60, 100);
    clock.t += 2 * 60 * MINUTE;
    for (let r = 0; r < 25; r++) m.request('tok', 0);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.detail).toMatchObject({ requests: 20, averagePerMinute: 0 });
  });
});

describe('AlertMonitor spend spikes', () => {
  it('raises one spend_spike for the spending token, none for a steady one', () => {
    const { m, alerts, clock } = monitor();
    for (let i = 0; i < 20; i++) {
      m.request('tok_a', 200_000);
      m.request('tok_b', 200_000);
      clock.t += MINUTE;
    }
    // Few requests, so no request spike; 3 × $1 against an average of $0.20 is.
    for (let r = 0; r < 3; r++) m.request('tok_a', 1_000_000);
    m.request('tok_b', 200_000);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'spend_spike', subject: 'tok_a' });
    expect(alerts[0]!.detail).toMatchObject({ spendMicros: 3_000_000, averageMicrosPerMinute: 200_000 });
  });

  it('stays quiet below the spend floor and without history', () => {
    const { m, alerts, clock } = monitor();
    steady(m, clock, 'tok', 30, 1, 1_000);
    m.request('tok', 900_000);
    expect(alerts).toHaveLength(0);

    const fresh = monitor();
    steady(fresh.m, fresh.clock, 'tok', 3, 1, 1_000);
    fresh.m.request('tok', 50_000_000);
    expect(fresh.alerts).toHaveLength(0);
  });
});

describe('AlertMonitor auth failures', () => {
  it('raises one auth_failure_burst per minute above the threshold', () => {
    const { m, alerts, clock } = monitor({ authFailuresPerMinute: 10 });
    for (let i = 0; i < 10; i++) m.authFailure();
    expect(alerts).toHaveLength(0);
    for (let i = 0; i < 50; i++) m.authFailure();
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'auth_failure_burst', subject: 'all' });
    expect(alerts[0]!.detail).toMatchObject({ failures: 11, threshold: 10 });

    clock.t += MINUTE;
    for (let i = 0; i < 10; i++) m.authFailure();
    expect(alerts).toHaveLength(1);
    m.authFailure();
    expect(alerts).toHaveLength(2);
  });
});

/**
 * The cluster channel between the primary and one worker, in memory: each side's `send` reaches
 * the other's 'message' listeners on a later turn, as IPC does.
 */
function channelPair() {
  const toWorker = new EventEmitter();
  const toPrimary = new EventEmitter();
  const deliver = (to: EventEmitter) => (message: unknown) => {
    setImmediate(() => to.emit('message', message));
    return true;
  };
  return {
    worker: { send: deliver(toPrimary), on: toWorker.on.bind(toWorker) },
    primary: { send: deliver(toWorker), on: toPrimary.on.bind(toPrimary), isConnected: () => true },
  };
}

describe('AlertMonitor across the workers of --workers N', () => {
  const REPORT_MS = 5;
  const stops: Array<() => void> = [];
  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
  });

  /** Two workers' monitors whose token traffic one primary tally counts. */
  function cluster(spikeFactor: number) {
    const clock = { t: Date.UTC(2025, 0, 1) };
    const tally = new TokenTrafficTally(() => clock.t);
    const workers = [0, 1].map(() => {
      const alerts: Alert[] = [];
      const m = new AlertMonitor({ spikeFactor, authFailuresPerMinute: 100, emit: (a) => alerts.push(a) });
      const { worker, primary } = channelPair();
      tally.attach(primary);
      stops.push(shareTokenTraffic(m, worker, REPORT_MS));
      return { m, alerts };
    });
    /** `perWorker` requests of `cost` on each worker, then the reports and the spikes they make. */
    const traffic = async (perWorker: number, cost = 0) => {
      for (const { m } of workers) for (let r = 0; r < perWorker; r++) m.request('tok', cost);
      await sleep(REPORT_MS * 6);
    };
    return { clock, workers, traffic, alerts: () => workers.flatMap((w) => w.alerts) };
  }

  it('raises one request_spike for a spike split over the workers, with the whole count', async () => {
    const { clock, traffic, alerts } = cluster(3);
    for (let minute = 0; minute < 10; minute++) {
      await traffic(3);
      clock.t += MINUTE;
    }
    // 15 on each worker: under the floor of 20 for either alone, 30 over 3 × 6 together.
    await traffic(15);
    expect(alerts()).toHaveLength(1);
    expect(alerts()[0]).toMatchObject({ kind: 'request_spike', subject: 'tok', at: clock.t });
    expect(alerts()[0]!.detail).toEqual({ requests: 30, averagePerMinute: 6, spikeFactor: 3 });
    await traffic(15);
    expect(alerts()).toHaveLength(1);

    // The same traffic counted by each worker on its own raises nothing: what the tally fixes.
    const alone = monitor({ spikeFactor: 3 });
    steady(alone.m, alone.clock, 'tok', 10, 3);
    for (let r = 0; r < 15; r++) alone.m.request('tok', 0);
    expect(alone.alerts).toHaveLength(0);
  });

  it('raises one spend_spike for spend split over the workers', async () => {
    const { clock, traffic, alerts } = cluster(5);
    for (let minute = 0; minute < 10; minute++) {
      await traffic(1, 50_000);
      clock.t += MINUTE;
    }
    // $0.60 on each worker: under the $1 floor alone, $1.20 over 5 × $0.10 together.
    await traffic(1, 600_000);
    expect(alerts().map((a) => a.kind)).toEqual(['spend_spike']);
    expect(alerts()[0]!.detail).toMatchObject({ spendMicros: 1_200_000, averageMicrosPerMinute: 100_000 });
  });
});

describe('AlertMonitor budgets and raised alerts', () => {
  it('raises budget_exhausted at most once per hour per subject', () => {
    const { m, alerts, clock } = monitor();
    m.budgetExhausted('tok_a');
    m.budgetExhausted('tok_a');
    m.budgetExhausted('tok_b');
    clock.t += 59 * MINUTE;
    m.budgetExhausted('tok_a');
    expect(alerts.map((a) => a.subject)).toEqual(['tok_a', 'tok_b']);
    clock.t += MINUTE;
    m.budgetExhausted('tok_a');
    expect(alerts.map((a) => `${a.kind}:${a.subject}`)).toEqual([
      'budget_exhausted:tok_a',
      'budget_exhausted:tok_b',
      'budget_exhausted:tok_a',
    ]);
  });

  it('raises budget_exhausted again once the clock is back from a step forward', () => {
    const { m, alerts, clock } = monitor();
    const start = clock.t;
    clock.t = start + 30 * 24 * 60 * MINUTE;
    m.budgetExhausted('tok_a');
    clock.t = start + MINUTE;
    m.budgetExhausted('tok_a');
    m.budgetExhausted('tok_a');
    expect(alerts.map((a) => a.at)).toEqual([start + 30 * 24 * 60 * MINUTE, start + MINUTE]);
  });

  it('passes key alerts through, once per hour per kind and subject', () => {
    const { m, alerts, clock } = monitor();
    m.raise({ kind: 'key_rejected', subject: 'openai/k1', message: 'rejected' });
    m.raise({ kind: 'key_rejected', subject: 'openai/k1', message: 'rejected' });
    m.raise({ kind: 'key_too_old', subject: 'openai/k1', message: 'old', detail: { ageDays: 120 } });
    expect(alerts).toEqual([
      { kind: 'key_rejected', subject: 'openai/k1', message: 'rejected', at: clock.t },
      { kind: 'key_too_old', subject: 'openai/k1', message: 'old', at: clock.t, detail: { ageDays: 120 } },
    ]);
  });

  it('survives an emitter that throws', () => {
    const m = new AlertMonitor({
      spikeFactor: 10,
      authFailuresPerMinute: 1,
      emit: () => {
        throw new Error('sink down');
      },
    });
    expect(() => {
      m.authFailure();
      m.authFailure();
    }).not.toThrow();
  });
});

describe('AlertMonitor memory bound', () => {
  it('tracks at most 10 000 tokens, forgetting the least recently seen', () => {
    const { m, alerts, clock } = monitor();
    expect(MAX_TRACKED_TOKENS).toBe(10_000);
    m.request('tok_kept', 0);
    clock.t += MINUTE;
    for (let i = 0; i < 10_000; i++) m.request(`tok_${i}`, 0);
    // Seen again in a later minute, so it is now the most recent, and tok_0 the stalest.
    m.request('tok_kept', 0);
    expect(m.trackedTokens).toBe(10_000);
    expect(m.trackedTokens).toBe(MAX_TRACKED_TOKENS);
    // tok_kept survived: its history is intact, so a spike still alerts after enough minutes.
    steady(m, clock, 'tok_kept', 6, 1);
    for (let r = 0; r < 30; r++) m.request('tok_kept', 0);
    expect(alerts.map((a) => a.subject)).toEqual(['tok_kept']);
    // tok_0 was evicted and starts over with no history.
    for (let r = 0; r < 30; r++) m.request('tok_0', 0);
    expect(alerts).toHaveLength(1);
    expect(m.trackedTokens).toBe(10_000);
  });

  it('counts 10 001 distinct tokens as 10 000 tracked', () => {
    const { m } = monitor();
    for (let i = 0; i < 10_001; i++) m.request(`tok_${i}`, 1);
    expect(m.trackedTokens).toBe(10_000);
  });
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

describe('AlertWebhook', () => {
  const secret = 'whsec_test_0123456789';
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function receiver(respond: (count: number, res: ServerResponse) => void) {
    const received: Received[] = [];
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        respond(received.length, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}/hook`, received };
  }

  function webhook(url: string, errors: Error[], timeoutMs = 5_000) {
    const hook = new AlertWebhook({ url, secret, onError: (e) => errors.push(e), timeoutMs, backoffMs: 10 });
    cleanups.push(() => hook.close());
    return hook;
  }

  const alert: Alert = {
    kind: 'request_spike',
    subject: 'tok_a',
    message: 'Token tok_a spiked',
    at: Date.UTC(2025, 0, 1, 12, 30),
    detail: { requests: 300, averagePerMinute: 5 },
  };

  it('POSTs a signed JSON body that verifies, and not with a wrong secret', async () => {
    const { url, received } = await receiver((_, res) => res.writeHead(204).end());
    const errors: Error[] = [];
    const hook = webhook(url, errors);
    hook.send(alert);
    await hook.close();

    expect(errors).toEqual([]);
    expect(received).toHaveLength(1);
    const [{ headers, body }] = received as [Received];
    expect(headers['content-type']).toBe('application/json');
    expect(JSON.parse(body)).toEqual({
      kind: 'request_spike',
      subject: 'tok_a',
      message: 'Token tok_a spiked',
      at: '2025-01-01T12:30:00.000Z',
      detail: { requests: 300, averagePerMinute: 5 },
    });
    const timestamp = headers['x-keyward-timestamp'] as string;
    const signature = headers['x-keyward-signature'] as string;
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, timestamp, body, signature)).toBe(true);
    expect(verifyWebhookSignature('whsec_wrong', timestamp, body, signature)).toBe(false);
    expect(verifyWebhookSignature(secret, Number(timestamp) + 1, body, signature)).toBe(false);
    expect(verifyWebhookSignature(secret, timestamp, `${body} `, signature)).toBe(false);
    expect(verifyWebhookSignature(secret, timestamp, body, 'sha256=00')).toBe(false);
  });

  it('retries a 500 and delivers once', async () => {
    const { url, received } = await receiver((count, res) => res.writeHead(count === 1 ? 500 : 200).end());
    const errors: Error[] = [];
    const hook = webhook(url, errors);
    hook.send(alert);
    await hook.close();
    expect(errors).toEqual([]);
    expect(received).toHaveLength(2);
    expect(received[0]!.body).toBe(received[1]!.body);
    const last = received[1]!;
    expect(
      verifyWebhookSignature(
        secret,
        last.headers['x-keyward-timestamp'] as string,
        last.body,
        last.headers['x-keyward-signature'] as string,
      ),
    ).toBe(true);
  });

  it('gives up after three retries of a 5xx, and does not retry a 4xx', async () => {
    const down = await receiver((_, res) => res.writeHead(503).end());
    const errors: Error[] = [];
    const hook = webhook(down.url, errors);
    hook.send(alert);
    await hook.close();
    expect(down.received).toHaveLength(4);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toContain('HTTP 503');

    const refusing = await receiver((_, res) => res.writeHead(401).end());
    const refusedErrors: Error[] = [];
    const refused = webhook(refusing.url, refusedErrors);
    refused.send(alert);
    await refused.close();
    expect(refusing.received).toHaveLength(1);
    expect(refusedErrors[0]!.message).toContain('HTTP 401');
  });

  it('reports an unreachable URL through onError without throwing', async () => {
    // Bind and release a port so nothing listens on it.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const errors: Error[] = [];
    const hook = webhook(`http://127.0.0.1:${port}/hook`, errors);
    expect(() => hook.send(alert)).not.toThrow();
    await hook.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/request_spike/);
  });

  it('sends one at a time, in order, and close() drains the queue', async () => {
    let active = 0;
    let maxActive = 0;
    const { url, received } = await receiver((_, res) => {
      active++;
      maxActive = Math.max(maxActive, active);
      setTimeout(() => {
        active--;
        res.writeHead(200).end();
      }, 5);
    });
    const errors: Error[] = [];
    const hook = webhook(url, errors);
    for (let i = 0; i < 10; i++) hook.send({ ...alert, subject: `tok_${i}` });
    await hook.close();
    expect(errors).toEqual([]);
    expect(received.map((r) => JSON.parse(r.body).subject)).toEqual(
      Array.from({ length: 10 }, (_, i) => `tok_${i}`),
    );
    expect(maxActive).toBe(1);
  });

  it('close() gives up on a receiver that hangs, after the timeout', async () => {
    const { url } = await receiver(() => {
      // Never answers.
    });
    const errors: Error[] = [];
    const hook = new AlertWebhook({ url, secret, onError: (e) => errors.push(e), timeoutMs: 200 });
    // One goes in flight, 1 000 wait, and the two beyond the bound push out the oldest waiting.
    for (let i = 0; i < 1_003; i++) hook.send({ ...alert, subject: `tok_${i}` });
    const dropped = errors.filter((e) => e.message.includes('dropped'));
    expect(dropped.map((e) => e.message)).toEqual([
      'Alert webhook queue full; dropped request_spike alert for tok_1',
      'Alert webhook queue full; dropped request_spike alert for tok_2',
    ]);
    const started = Date.now();
    await hook.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(errors.some((e) => e.message.includes('1000 alerts undelivered'))).toBe(true);
  });
});
