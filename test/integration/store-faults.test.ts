import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { lockStore } from '../support/store-lock.js';

const PROVIDER_KEY = 'sk-store-faults-provider-key-0123456789';
const ADMIN_KEY = 'kwa-test-admin-key-0123456789abcdef';
/** The store's busy_timeout (src/store/sqlite.ts). */
const BUSY_TIMEOUT_S = 5;
const LOCK_HELD_MS = 6_000;
/**
 * While the store is locked the audit queue holds up to audit.maxQueue (10 000) entries; beyond it the oldest are
 * dropped and counted, by design (src/audit/audit-log.ts). The requests during the lock are paced
 * so that a fast machine stays within it: this test is about the lock, not the queue's bound.
 */
const PACE_MS = 2;
const AUDIT_QUEUE = 10_000;

/** The gateway's `/metrics` series without labels, by name. */
async function scrape(adminUrl: string): Promise<Map<string, number>> {
  const res = await request(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const series = new Map<string, number>();
  for (const line of (await res.body.text()).split('\n')) {
    const [name, value, ...rest] = line.split(' ');
    if (name && !name.startsWith('#') && value !== undefined && rest.length === 0)
      series.set(name, Number(value));
  }
  return series;
}

/** The gateway's largest event-loop delay since the previous scrape (prom-client resets it per scrape). */
async function loopLagMaxSeconds(adminUrl: string): Promise<number> {
  return (await scrape(adminUrl)).get('keyward_nodejs_eventloop_lag_max_seconds') ?? Number.NaN;
}

/** The audit queue's two series. */
async function auditQueue(adminUrl: string): Promise<{ pending?: number; dropped?: number }> {
  const series = await scrape(adminUrl);
  return {
    pending: series.get('keyward_audit_pending_entries'),
    dropped: series.get('keyward_audit_dropped_total'),
  };
}

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
let gw: RunningGateway | undefined;
afterEach(async () => {
  if (gw && gw.child.exitCode === null) {
    gw.child.kill('SIGKILL');
    await gw.exited;
  }
  gw = undefined;
  await fake?.close();
  fake = undefined;
});

async function startWithToken(dataDir: string, audit: Record<string, unknown> = {}) {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  const config = writeTempConfig({
    server: { port: 0 },
    admin: { port: 0 },
    providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
    models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    audit: { batchSize: 20, intervalMs: 50, requests: true, ...audit },
  });
  gw = await startGatewayProcess(config, {
    P_KEY: PROVIDER_KEY,
    KEYWARD_ADMIN_KEY: ADMIN_KEY,
    KEYWARD_DATA_DIR: dataDir,
  });
  const minted = await request(`${gw.adminUrl}/admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'locked-out', userId: 'u-lock' }),
  });
  expect(minted.statusCode).toBe(201);
  return { gateway: gw, ...((await minted.body.json()) as { token: string; id: string }) };
}

async function chats(url: string, token: string, count: number, dispatcher: Agent): Promise<number[]> {
  return (await answeredChats(url, token, count, dispatcher)).map((answer) => answer.status);
}

async function answeredChats(url: string, token: string, count: number, dispatcher: Agent) {
  const answers: Array<{ status: number; requestId: string }> = [];
  for (let i = 0; i < count; i++) {
    const res = await request(`${url}/v1/chat/completions`, {
      method: 'POST',
      dispatcher,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.dump();
    answers.push({ status: res.statusCode, requestId: String(res.headers['x-request-id']) });
  }
  return answers;
}

function auditedRequestIds(dataDir: string, tokenId: string): string[] {
  const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
  try {
    const rows = db
      .prepare("SELECT data FROM audit WHERE type = 'request' AND actor = ? ORDER BY seq")
      .all(tokenId) as Array<{ data: string }>;
    return rows.map((row) => (JSON.parse(row.data) as { requestId: string }).requestId);
  } finally {
    db.close();
  }
}

function stored(dataDir: string, tokenId: string) {
  const db = new Database(join(dataDir, 'keyward.db'), { readonly: true });
  try {
    const audited = db
      .prepare("SELECT COUNT(*) AS n FROM audit WHERE type = 'request' AND actor = ?")
      .get(tokenId) as { n: number };
    const usage = db.prepare('SELECT SUM(requests) AS n FROM usage WHERE token_id = ?').get(tokenId) as {
      n: number | null;
    };
    const integrity = db.pragma('integrity_check', { simple: true });
    return { audited: audited.n, usage: usage.n ?? 0, integrity };
  } finally {
    db.close();
  }
}

describe('store faults', () => {
  it('keeps serving while another process holds the store write lock for seconds, then writes every usage and audit record', async () => {
    const dataDir = freshDataDir();
    const { gateway, token, id } = await startWithToken(dataDir);
    const dispatcher = new Agent({ connections: 1 });
    await loopLagMaxSeconds(gateway.adminUrl);
    const locker = await lockStore(join(dataDir, 'keyward.db'));
    // Longer than the store's busy timeout (5 s), so that every writer meets the lock.
    const during: number[] = [];
    for (const until = Date.now() + LOCK_HELD_MS; Date.now() < until; ) {
      during.push(...(await chats(gateway.dataUrl, token, 1, dispatcher)));
      await sleep(PACE_MS);
    }
    expect(during.length).toBeLessThan(AUDIT_QUEUE);
    expect(locker.held).toBe(true);
    expect(during.every((s) => s === 200)).toBe(true);
    // The event loop never waited out the lock: a synchronous write that did stalled every
    // request for the whole busy timeout, each time the usage recorder flushed.
    expect(await loopLagMaxSeconds(gateway.adminUrl)).toBeLessThan(BUSY_TIMEOUT_S / 2);
    await locker.release();
    const after = await chats(gateway.dataUrl, token, 5, dispatcher);
    expect(after.every((s) => s === 200)).toBe(true);
    const total = during.length + after.length;
    // Usage comes back from memory, audit from its writer thread's retries: nothing was lost.
    await expect
      .poll(() => stored(dataDir, id), { timeout: 20_000, interval: 200 })
      .toEqual({ audited: total, usage: total, integrity: 'ok' });
    await dispatcher.close();
  }, 60_000);

  it('keeps at most audit.maxQueue entries while the store is locked, counts the rest as dropped on /metrics, and writes what it kept', async () => {
    const dataDir = freshDataDir();
    const { gateway, token, id } = await startWithToken(dataDir, { maxQueue: 20 });
    const dispatcher = new Agent({ connections: 1 });
    // The token's creation is audited too: written before the lock is taken.
    await expect.poll(() => auditQueue(gateway.adminUrl)).toEqual({ pending: 0, dropped: 0 });
    const locker = await lockStore(join(dataDir, 'keyward.db'));
    const answers = await answeredChats(gateway.dataUrl, token, 30, dispatcher);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    // Whichever batch was on its way to the locked store comes back to the queue when its write
    // times out: then the bound holds for everything recorded.
    await expect
      .poll(() => auditQueue(gateway.adminUrl), { timeout: 20_000, interval: 250 })
      .toEqual({ pending: 20, dropped: 10 });
    await locker.release();
    await expect
      .poll(() => auditQueue(gateway.adminUrl), { timeout: 20_000, interval: 250 })
      .toEqual({ pending: 0, dropped: 10 });
    // The newest entries were kept, in order, and nothing was written twice.
    expect(auditedRequestIds(dataDir, id)).toEqual(answers.slice(10).map((answer) => answer.requestId));
    // Usage is kept in memory, not in that queue: every request is counted, once its flush comes.
    await expect
      .poll(() => stored(dataDir, id), { timeout: 20_000, interval: 200 })
      .toEqual({ audited: 20, usage: 30, integrity: 'ok' });
    await dispatcher.close();
  }, 60_000);
});
