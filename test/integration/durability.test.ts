import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import {
  freshDataDir,
  type RunningGateway,
  runCli,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';

const PROVIDER_KEY = 'sk-durability-provider-key-0123456789';
const ADMIN_KEY = 'kwa-test-admin-key-0123456789abcdef';

/** The audit defaults: a full batch is written at once, a partial one after intervalMs. */
const BATCH_SIZE = 100;
const AUDIT_INTERVAL_MS = 50;
/** UsageRecorder's fixed flush interval. */
const USAGE_INTERVAL_MS = 1000;
/** Event-loop lag a loaded gateway may add to a timer. */
const TIMER_SLACK_MS = 300;
const WORKERS = 8;
const LOAD_MS = 2500;

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
let gw: RunningGateway | undefined;
afterEach(async () => {
  if (gw && gw.child.exitCode === null && gw.child.signalCode === null) {
    gw.child.kill('SIGKILL');
    await gw.exited;
  }
  gw = undefined;
  await fake?.close();
  fake = undefined;
});

describe('durability of audit and usage across a crash', () => {
  it('keeps all but the last batch of audit records and the last interval of usage after SIGKILL under load, with a sound chain', async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const dataDir = freshDataDir();
    const configFile = writeTempConfig({
      server: { port: 0 },
      admin: { port: 0 },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      audit: { batchSize: BATCH_SIZE, intervalMs: AUDIT_INTERVAL_MS, requests: true },
    });
    const env = { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_DATA_DIR: dataDir };
    gw = await startGatewayProcess(configFile, env);
    const running = gw;

    const minted = await request(`${running.adminUrl}/admin/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'load', userId: 'u-load' }),
    });
    expect(minted.statusCode).toBe(201);
    const { token, id } = (await minted.body.json()) as { token: string; id: string };

    // Each worker keeps one request in flight; the time each success arrived is kept.
    const dispatcher = new Agent({ connections: WORKERS });
    const received: number[] = [];
    const failures: string[] = [];
    let stopped = false;
    const worker = async () => {
      while (!stopped) {
        try {
          const res = await request(`${running.dataUrl}/v1/chat/completions`, {
            method: 'POST',
            dispatcher,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
          });
          const text = await res.body.text();
          if (res.statusCode === 200) received.push(Date.now());
          else failures.push(`${res.statusCode} ${text}`);
        } catch {
          // The connection died with the gateway.
          return;
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, worker);
    await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
    const killedAt = Date.now();
    running.child.kill('SIGKILL');
    await running.exited;
    stopped = true;
    await Promise.all(workers);
    await dispatcher.close().catch(() => undefined);

    const n = received.length;
    expect(failures).toEqual([]);
    expect(n).toBeGreaterThan(200);
    const settledBeforeLastUsageFlush = received.filter(
      (at) => at <= killedAt - USAGE_INTERVAL_MS - TIMER_SLACK_MS,
    ).length;

    const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
    let audited: number;
    let usage: { requests: number | null; cost: number | null };
    try {
      audited = (
        db.prepare("SELECT COUNT(*) AS n FROM audit WHERE type = 'request' AND actor = ?").get(id) as {
          n: number;
        }
      ).n;
      usage = db
        .prepare('SELECT SUM(requests) AS requests, SUM(cost_micros) AS cost FROM usage WHERE token_id = ?')
        .get(id) as {
        requests: number | null;
        cost: number | null;
      };
      expect(
        (db.prepare("SELECT COUNT(*) AS n FROM audit WHERE type = 'token.created'").get() as { n: number }).n,
      ).toBe(1);
    } finally {
      db.close();
    }
    console.log(
      `SIGKILL after ${n} answered requests: ${audited} request audit records, ${usage.requests} requests in usage ` +
        `(${settledBeforeLastUsageFlush} answered more than ${USAGE_INTERVAL_MS + TIMER_SLACK_MS} ms before the kill)`,
    );

    // Audit: entries are queued and written in batches by the writer thread; a crash loses the batch
    // on its way to that thread and what is queued behind it (less than one batch: a full one is
    // sent at the next turn of the event loop), plus the few requests whose answers were on their
    // way to a worker but not yet recorded (one per worker at most, twice:
    // recorded-but-not-queued-in-time and answered-before-recorded).
    expect(audited).toBeGreaterThanOrEqual(n - 2 * BATCH_SIZE - 2 * WORKERS);
    // Nothing is audited that no one was answered (bar the requests in flight at the kill).
    expect(audited).toBeLessThanOrEqual(n + WORKERS);

    // Usage: summed in memory and written every second; a crash loses at most the last interval, so
    // every request answered more than an interval (plus timer lag) before the kill is counted.
    expect(usage.requests ?? 0).toBeGreaterThanOrEqual(settledBeforeLastUsageFlush);
    expect(usage.requests ?? 0).toBeLessThanOrEqual(n + WORKERS);
    expect(settledBeforeLastUsageFlush).toBeGreaterThan(0);

    // The chain that survived is intact.
    const verify = await runCli(
      ['audit', 'verify', '--json', '--config', configFile, '--data-dir', dataDir],
      {
        env: { P_KEY: PROVIDER_KEY },
      },
    );
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const result = JSON.parse(verify.stdout) as { ok: boolean; checked: number };
    expect(result.ok).toBe(true);
    expect(result.checked).toBeGreaterThanOrEqual(audited + 1);
  });
});
