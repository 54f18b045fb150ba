import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { childrenOf } from '../support/proc.js';
import { freshDataDir, type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { lockStore } from '../support/store-lock.js';

/**
 * `keyward start --workers 2` with the memory backend: the primary loads a budget's counter from
 * the store, while each worker writes its usage only once a second. A user budget whose period
 * changes on SIGHUP (day → month) is a counter loaded afresh, from a store that should hold all
 * the spend of the day so far.
 */
describe('keyward start --workers 2: a budget counter loaded from the store', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: RunningGateway;
  let configFile: string;
  const dataDir = freshDataDir();
  const periods: Record<string, 'day' | 'month'> = { ann: 'day', bob: 'day' };
  // A connection per request, so that the cluster spreads them over both workers.
  const fresh = new Agent({
    pipelining: 0,
    keepAliveTimeout: 1,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
  });

  const config = () => ({
    server: { port: 0 },
    admin: { port: 0 },
    providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
    models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    budgets: {
      users: Object.fromEntries(Object.entries(periods).map(([user, period]) => [user, { usd: 5, period }])),
    },
  });
  const chat = async (token: string, dispatcher: Agent | Client = fresh) => {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      dispatcher,
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(dispatcher === fresh && { connection: 'close' }),
      },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 }),
    });
    return { status: res.statusCode, body: (await res.body.json()) as { error?: { code?: string } } };
  };
  const tokenFor = async (userId: string) =>
    (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: userId, userId })).json.token as string;
  /** The user's budget as the limiter holds it (loaded now if it is not yet), in micro-dollars. */
  const budgetSpent = async (token: string) => {
    const res = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
      dispatcher: fresh,
      headers: { authorization: `Bearer ${token}`, connection: 'close' },
    });
    const body = (await res.body.json()) as { budgets: Array<{ period: string; spentUsd: number }> };
    expect(res.statusCode).toBe(200);
    const [budget] = body.budgets;
    return { period: budget!.period, micros: Math.round(budget!.spentUsd * 1e6) };
  };
  /** What the store holds for the user, once every worker has written its usage. */
  const storedSpend = async (userId: string) => {
    const usage = await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=user&userId=${userId}`);
    return usage.json.rows[0]?.costMicros as number;
  };
  /** Changes `user`'s budget period on SIGHUP, once both workers have taken it. */
  const changePeriod = async (user: string) => {
    periods[user] = 'month';
    writeFileSync(configFile, JSON.stringify(config()));
    const reloaded = () => kw.lines.filter((line) => line.includes('"configuration reloaded"')).length;
    const before = reloaded();
    kw.child.kill('SIGHUP');
    await expect.poll(reloaded, { timeout: 5000, interval: 10 }).toBe(before + 2);
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    configFile = writeTempConfig(config());
    kw = await startWorkers(configFile, {
      P_KEY: PROVIDER_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      KEYWARD_DATA_DIR: dataDir,
    });
  });
  afterAll(async () => {
    await kw?.stop();
    await fresh.close();
    await fake?.close();
  });

  it('holds the spend the workers settled just before the load, not yet written by their own timers', async () => {
    const token = await tokenFor('bob');
    // Two requests, one to each worker, still waiting for the provider when the period changes.
    fake.script({ delayHeadersMs: 1500 }, { delayHeadersMs: 1500 });
    const asked = fake.requests.length;
    const spending = Promise.all([chat(token), chat(token)]);
    await fake.waitForRequests(asked + 2);
    await changePeriod('bob');
    expect((await spending).map((answer) => answer.status)).toEqual([200, 200]);
    // Loaded within milliseconds of their settles: their usage is still in the workers' memory.
    const loaded = await budgetSpent(token);
    expect(loaded.period).toMatch(/^\d{4}-\d{2}$/);
    const stored = await storedSpend('bob');
    expect(stored).toBeGreaterThan(0);
    expect(loaded.micros).toBe(stored);
  });

  it('refuses (503) the requests of a budget that cannot be read whole while a worker cannot write its usage, then reads it whole', async () => {
    const token = await tokenFor('ann');
    const locker = await lockStore(join(dataDir, 'keyward.db'));
    let released = false;
    try {
      // Served while the store is locked; their usage stays in the workers, whose writes fail.
      expect((await Promise.all([chat(token), chat(token)])).map((answer) => answer.status)).toEqual([
        200, 200,
      ]);
      await changePeriod('ann');
      // The month's counter cannot hold what the workers could not write: refused, not under-counted.
      const refused = await chat(token);
      expect(refused.status).toBe(503);
      expect(refused.body.error?.code).toBe('rate_limiter_unavailable');
      // Its status, read in the primary and answered over IPC, is refused alike rather than a 500.
      const unread = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
        dispatcher: fresh,
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
      });
      expect(unread.statusCode).toBe(503);
      expect(unread.headers['retry-after']).toBe('1');
      expect(((await unread.body.json()) as { error?: { code?: string } }).error?.code).toBe(
        'rate_limiter_unavailable',
      );
      await locker.release();
      released = true;
      // Loaded at the next request, once the workers have written what they held.
      const loaded = await budgetSpent(token);
      expect(loaded.period).toMatch(/^\d{4}-\d{2}$/);
      const stored = await storedSpend('ann');
      expect(stored).toBeGreaterThan(0);
      expect(loaded.micros).toBe(stored);
    } finally {
      if (!released) {
        await locker.release();
      }
    }
  });

  it('refuses (503) after 2 s when a worker does not answer, and goes on without a worker that died while asked', async () => {
    const budgeted = async () =>
      (
        await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
          name: 'capped',
          budget: { usd: 5, period: 'day' },
        })
      ).json.token as string;
    const [silentToken, goneToken] = [await budgeted(), await budgeted()];
    // Kept-alive connections opened one after another: the cluster hands them to both workers.
    const clients = Array.from({ length: 4 }, () => new Client(kw.dataUrl, { keepAliveTimeout: 60_000 }));
    let stopped: number | undefined;
    try {
      for (const client of clients)
        await (await request(`${kw.dataUrl}/health`, { dispatcher: client })).body.dump();
      stopped = childrenOf(kw.child.pid!)[0];
      process.kill(stopped!, 'SIGSTOP');
      // The first answer is the running worker's (the stopped one answers nothing), whose budget's
      // load waits for the stopped worker.
      const first = (token: string) =>
        Promise.any(
          clients.map((client) => chat(token, client).then((answer) => ({ ...answer, at: Date.now() }))),
        );
      const asked = Date.now();
      const silent = await first(silentToken);
      expect(silent.status).toBe(503);
      expect(silent.body.error?.code).toBe('rate_limiter_unavailable');
      expect(silent.at - asked).toBeGreaterThanOrEqual(2000);

      const answered = first(goneToken);
      setTimeout(() => process.kill(stopped!, 'SIGKILL'), 300);
      // Served, not refused after the wait: the dead worker was not waited for.
      expect((await answered).status).toBe(200);
    } finally {
      // Stopped, it would hold the gateway's shutdown. Killed above, it may still be listed as
      // the primary's child for a moment after it is gone.
      if (stopped !== undefined && childrenOf(kw.child.pid!).includes(stopped)) {
        try {
          process.kill(stopped, 'SIGKILL');
        } catch {
          // Gone since it was listed (ESRCH).
        }
      }
      await Promise.all(clients.map((client) => client.destroy()));
    }
  });
});
