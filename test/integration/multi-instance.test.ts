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
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';

const PROVIDER_KEY = 'sk-multi-instance-provider-key-0123456789';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { error?: { code?: string } } & Record<string, unknown>;
}

async function chat(gw: RunningGateway, token: string): Promise<Answer> {
  const res = await request(`${gw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.statusCode, headers: res.headers, json: (await res.body.json()) as Answer['json'] };
}

async function admin(gw: RunningGateway, method: 'POST' | 'DELETE', path: string, body?: unknown) {
  return adminCall(gw.adminUrl, method, path, body);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!hasRedis())(
  'several gateway instances on one store and one Redis (needs redis-server: apt-get install redis-server)',
  () => {
    let redis: RedisServer;
    let fake: Fake;
    let dataDir: string;
    const instances: RunningGateway[] = [];
    let open: RunningGateway;

    const configFor = (failMode: 'closed' | 'open') =>
      writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        storage: { redis: { url: redis.url } },
        rateLimits: { backend: 'redis', failMode },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      });

    beforeAll(async () => {
      redis = await startRedis();
      fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
      dataDir = freshDataDir();
      const env = { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_DATA_DIR: dataDir };
      const closed = configFor('closed');
      // The first start creates the master key and the store; the others then open them.
      instances.push(await startGatewayProcess(closed, env));
      instances.push(
        ...(await Promise.all([startGatewayProcess(closed, env), startGatewayProcess(closed, env)])),
      );
      open = await startGatewayProcess(configFor('open'), env);
    });

    afterAll(async () => {
      for (const gw of [...instances, open]) {
        if (!gw) continue;
        gw.child.kill('SIGKILL');
        await gw.exited;
      }
      await fake?.close();
      await redis?.stop();
    });

    it('holds a token to one rpm across instances, revokes it everywhere within a second, and fails closed or open without Redis', async () => {
      const [one, two, three] = instances as [RunningGateway, RunningGateway, RunningGateway];
      const minted = await admin(one, 'POST', '/admin/tokens', { name: 'shared', limits: { rpm: 10 } });
      expect(minted.status).toBe(201);
      const token = minted.json.token as string;
      const id = minted.json.id as string;

      // 60 at once, 20 on each instance: one bucket of 10 in Redis.
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => chat(instances[i % 3]!, token)));
      const ok = answers.filter((a) => a.status === 200);
      expect(ok).toHaveLength(10);
      expect(
        answers.filter((a) => a.status === 429 && a.json.error?.code === 'rate_limit_exceeded'),
      ).toHaveLength(50);
      expect(fake.requests).toHaveLength(10);
      for (const answer of answers.filter((a) => a.status === 429)) {
        expect(answer.headers['x-ratelimit-remaining-requests']).toBe('0');
        expect(answer.headers['x-ratelimit-limit-requests']).toBe('10');
      }
      // A bucket split per instance would have let up to 30 through; the status agrees everywhere.
      for (const gw of instances) {
        const res = await request(`${gw.dataUrl}/v1/rate-limit-status`, {
          headers: { authorization: `Bearer ${token}` },
        });
        const status = (await res.body.json()) as { rates: Array<{ name: string; remaining: number }> };
        expect(status.rates).toEqual([expect.objectContaining({ name: 'rpm', remaining: 0 })]);
      }

      // Revoked through instance 2; instances 1 and 3 still hold the token in their caches.
      const revokedAt = Date.now();
      expect((await admin(two, 'DELETE', `/admin/tokens/${id}`)).status).toBe(200);
      const refusedAfter = async (gw: RunningGateway): Promise<number> => {
        for (;;) {
          const answer = await chat(gw, token);
          if (answer.status === 401) {
            expect(answer.json.error?.code).toBe('token_revoked');
            return Date.now() - revokedAt;
          }
          // Until then the token is still known (and over its rpm).
          expect(answer.status).toBe(429);
          if (Date.now() - revokedAt > 5000) return Number.POSITIVE_INFINITY;
          await sleep(10);
        }
      };
      const [onOne, onThree] = await Promise.all([refusedAfter(one), refusedAfter(three)]);
      console.log(`revocation reached instance 1 after ${onOne} ms, instance 3 after ${onThree} ms`);
      expect(onOne).toBeLessThan(1000);
      expect(onThree).toBeLessThan(1000);
      expect((await chat(two, token)).json.error?.code).toBe('token_revoked');

      // Redis goes away: closed instances refuse with 503, the open one lets requests through.
      const next = await admin(one, 'POST', '/admin/tokens', { name: 'next', limits: { rpm: 1000 } });
      const other = next.json.token as string;
      for (const gw of [one, two, three, open]) expect((await chat(gw, other)).status).toBe(200);
      await redis.stop();
      const down = await chat(one, other);
      expect(down.status).toBe(503);
      expect(down.json.error?.code).toBe('rate_limiter_unavailable');
      expect(Number(down.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      for (const gw of [two, three])
        expect((await chat(gw, other)).json.error?.code).toBe('rate_limiter_unavailable');
      // Readiness says why: the closed instance cannot serve, the open one can.
      const unready = await request(`${one.adminUrl}/ready`);
      expect(unready.statusCode).toBe(503);
      expect(await unready.body.json()).toEqual({
        status: 'unavailable',
        problems: ['redis: unreachable, and rate limits fail closed'],
      });
      const openReady = await request(`${open.dataUrl}/ready`);
      expect(openReady.statusCode).toBe(200);
      await openReady.body.dump();
      const upstreamBefore = fake.requests.length;
      for (let i = 0; i < 3; i++) expect((await chat(open, other)).status).toBe(200);
      expect(fake.requests.length).toBe(upstreamBefore + 3);

      // Redis is back (empty): the closed instances work again once they have reconnected.
      await redis.restart();
      const backAt = Date.now();
      for (const gw of [one, two, three]) {
        await expect
          .poll(async () => (await chat(gw, other)).status, { timeout: 5000, interval: 100 })
          .toBe(200);
      }
      console.log(`closed instances serving again ${Date.now() - backAt} ms after Redis restarted`);
      const afterRestart = await chat(one, other);
      expect(afterRestart.status).toBe(200);
      // The counters restarted from empty Redis: most of the 1000 are there again.
      expect(Number(afterRestart.headers['x-ratelimit-remaining-requests'])).toBeGreaterThan(990);
    });
  },
);
