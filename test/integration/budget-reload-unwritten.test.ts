import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { lockStore } from '../support/store-lock.js';

/**
 * One process, the memory limiter: a budget's counter is loaded from the store, which must first
 * hold the usage the process has recorded but not yet written. A user budget whose period changes
 * on SIGHUP (day → month) is a counter loaded afresh.
 */
describe('a budget counter loaded while the usage in memory cannot be written', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: RunningGateway;
  let configFile: string;
  const dataDir = freshDataDir();
  let period: 'day' | 'month' = 'day';

  const config = () => ({
    server: { port: 0 },
    admin: { port: 0 },
    providers: [{ id: 'oa', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
    models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
    budgets: { users: { ann: { usd: 5, period } } },
  });
  const chat = async (token: string) => {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 }),
    });
    return { status: res.statusCode, body: (await res.body.json()) as { error?: { code?: string } } };
  };

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    configFile = writeTempConfig(config());
    kw = await startGatewayProcess(configFile, {
      P_KEY: PROVIDER_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      KEYWARD_DATA_DIR: dataDir,
    });
  });
  afterAll(async () => {
    kw?.child.kill('SIGTERM');
    await kw?.exited;
    await fake?.close();
  });

  it('refuses (503) its requests until the usage is written, then reads the spend whole', async () => {
    const token = (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'ann', userId: 'ann' })).json
      .token as string;
    const locker = await lockStore(join(dataDir, 'keyward.db'));
    let released = false;
    try {
      // Served while the store is locked; their usage stays in memory, its writes failing.
      expect((await chat(token)).status).toBe(200);
      expect((await chat(token)).status).toBe(200);
      period = 'month';
      writeFileSync(configFile, JSON.stringify(config()));
      const reloaded = () => kw.lines.filter((line) => line.includes('"configuration reloaded"')).length;
      const before = reloaded();
      kw.child.kill('SIGHUP');
      await expect.poll(reloaded, { timeout: 5000, interval: 10 }).toBe(before + 1);
      // Read now, the month's counter would lack both requests: refused, not under-counted.
      const refused = await chat(token);
      expect(refused.status).toBe(503);
      expect(refused.body.error?.code).toBe('rate_limiter_unavailable');
      // Its status, which reads the same counter, is refused alike rather than a 500.
      const unread = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(unread.statusCode).toBe(503);
      expect(unread.headers['retry-after']).toBe('1');
      expect(((await unread.body.json()) as { error?: { code?: string } }).error?.code).toBe(
        'rate_limiter_unavailable',
      );
      await locker.release();
      released = true;
      const status = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const { budgets } = (await status.body.json()) as {
        budgets: Array<{ period: string; spentUsd: number }>;
      };
      expect(budgets[0]!.period).toMatch(/^\d{4}-\d{2}$/);
      const stored = (await adminCall(kw.adminUrl, 'GET', '/admin/usage?by=user&userId=ann')).json.rows[0]
        ?.costMicros as number;
      expect(stored).toBeGreaterThan(0);
      expect(Math.round(budgets[0]!.spentUsd * 1e6)).toBe(stored);
    } finally {
      if (!released) {
        await locker.release();
      }
    }
  });
});
