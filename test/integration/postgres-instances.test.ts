import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { hasPostgres } from '../support/postgres.js';
import {
  freshDataDir,
  type RunningGateway,
  startGatewayProcess,
  writeTempConfig,
} from '../support/process.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

const KEY_A = 'sk-pg-instance-key-a-0123456789abcdef';
const KEY_B = 'sk-pg-instance-key-b-0123456789abcdef';

const PG_PASSWORD = 'pg-secret-7f3a9c';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Three gateway processes behind no balancer (the test spreads requests itself), each with its own
 * empty data directory: everything they share is in Postgres and Redis, as on three machines. The
 * master key comes from the environment, as a secret manager would hand it to each.
 */
describe.skipIf(!hasPostgres() || !hasRedis())(
  'three instances on Postgres and Redis (needs the Debian packages postgresql and redis-server)',
  () => {
    const postgres = usePostgres();
    let redis: RedisServer;
    let fake: FakeProvider;
    let pair: FakeProvider;
    let config: string;
    let env: NodeJS.ProcessEnv;
    const instances: RunningGateway[] = [];
    const dataDirs: string[] = [];

    const chat = async (gw: RunningGateway, token: string, extra: Record<string, unknown> = {}) => {
      const res = await request(`${gw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], ...extra }),
      });
      const body = (await res.body.json()) as { error?: { code?: string } };
      return { status: res.statusCode, code: body.error?.code };
    };
    const spread = <T>(n: number, send: (gw: RunningGateway) => Promise<T>) =>
      Promise.all(Array.from({ length: n }, (_, i) => send(instances[i % instances.length]!)));
    const mint = async (spec: Record<string, unknown>) => {
      const minted = await adminCall(instances[0]!.adminUrl, 'POST', '/admin/tokens', {
        name: 'pg',
        ...spec,
      });
      expect(minted.status).toBe(201);
      return minted.json as { token: string; id: string };
    };

    beforeAll(async () => {
      redis = await startRedis();
      fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
      pair = await startFakeProvider('openai', { keys: [KEY_A, KEY_B] });
      config = writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        storage: {
          // Trust auth takes any password: this one is here to be looked for in the output.
          postgres: {
            url: (await postgres.database()).replace('postgres@', `postgres:${PG_PASSWORD}@`),
            poolSize: 4,
          },
          redis: { url: redis.url },
        },
        providers: [
          { id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } },
          { id: 'ob', type: 'openai', baseUrl: pair.baseUrl, keys: { env: 'P_KEYS' } },
        ],
        models: [
          { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
          { name: 'pair', provider: 'ob', model: 'gpt-4o-mini' },
        ],
      });
      env = {
        P_KEY: PROVIDER_KEY,
        P_KEYS: `${KEY_A},${KEY_B}`,
        KEYWARD_ADMIN_KEY: ADMIN_KEY,
        KEYWARD_MASTER_KEY: randomBytes(32).toString('base64'),
      };
      // Started together: the schema is migrated once, under the lock, and the secrets sealed once.
      dataDirs.push(freshDataDir(), freshDataDir(), freshDataDir());
      instances.push(
        ...(await Promise.all(
          dataDirs.map((dir) => startGatewayProcess(config, { ...env, KEYWARD_DATA_DIR: dir })),
        )),
      );
    });

    afterAll(async () => {
      for (const gw of instances) {
        gw.child.kill('SIGKILL');
        await gw.exited;
      }
      await fake?.close();
      await pair?.close();
      await redis?.stop();
    });

    it('names Postgres in the banner, never its password, and keeps nothing in the data directory', () => {
      const banner = instances[0]!.lines.find((line) => line.includes('"storage"'));
      expect(banner).toMatch(/postgres 127\.0\.0\.1:\d+\/test_\d+_\d+ \+ redis/);
      expect(banner).not.toContain('postgres://');
    });

    it("admits exactly a token's requests per minute across the three", async () => {
      const { token } = await mint({ limits: { rpm: 10 } });
      const answers = await spread(60, (gw) => chat(gw, token));
      expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
      expect(answers.filter((a) => a.code === 'rate_limit_exceeded')).toHaveLength(50);
    });

    it('never lets 200 concurrent requests overrun a budget', async () => {
      // Each answer costs what its reservation held: 1,000 output tokens of gpt-4o-mini, $0.0006.
      fake.script({ blocks: [{ type: 'text', text: 'ok' }], stop: 'end', usage: { input: 5, output: 1000 } });
      try {
        const { token, id } = await mint({ budget: { usd: 0.003, period: 'day' } });
        const answers = await spread(200, (gw) => chat(gw, token, { max_tokens: 1000 }));
        const admitted = answers.filter((a) => a.status === 200).length;
        expect(admitted).toBeGreaterThan(0);
        expect(answers.every((a) => a.status === 200 || a.status === 429 || a.status === 402)).toBe(true);
        // Every instance writes its usage to Postgres in batches: wait until all three have.
        const usage = () => adminCall(instances[1]!.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`);
        await expect
          .poll(async () => (await usage()).json.rows[0]?.requests, { timeout: 5000 })
          .toBe(admitted);
        expect((await usage()).json.rows[0].costMicros).toBeLessThanOrEqual(3000);
      } finally {
        fake.script({ blocks: [{ type: 'text', text: 'ok' }], stop: 'end', usage: { input: 5, output: 5 } });
      }
    });

    it('refuses a token revoked on one instance on the others within a second', async () => {
      const { token, id } = await mint({});
      for (const gw of instances) expect((await chat(gw, token)).status).toBe(200);
      const revokedAt = Date.now();
      expect((await adminCall(instances[1]!.adminUrl, 'DELETE', `/admin/tokens/${id}`)).status).toBe(200);
      const refusedAfter = async (gw: RunningGateway): Promise<number> => {
        while (Date.now() - revokedAt < 5000) {
          const answer = await chat(gw, token);
          if (answer.status === 401) {
            expect(answer.code).toBe('token_revoked');
            return Date.now() - revokedAt;
          }
          expect(answer.status).toBe(200);
          await sleep(5);
        }
        return Number.POSITIVE_INFINITY;
      };
      const [first, third] = await Promise.all([refusedAfter(instances[0]!), refusedAfter(instances[2]!)]);
      console.log(`revocation reached instance 1 after ${first} ms and instance 3 after ${third} ms`);
      expect(first).toBeLessThan(1000);
      expect(third).toBeLessThan(1000);
    });

    it('keeps every instance off a key the provider rate-limited through one of them', async () => {
      const { token } = await mint({});
      const ok = {
        blocks: [{ type: 'text' as const, text: 'ok' }],
        stop: 'end' as const,
        usage: { input: 5, output: 5 },
      };
      pair.script({ ...ok, fault: { kind: 'status', status: 429, retryAfterSeconds: 60 } }, ok);
      const before = pair.requests.length;
      expect((await chat(instances[0]!, token, { model: 'pair' })).status).toBe(200);
      const throttled = pair.requests[before]!.headers.authorization;
      // The note travels through Redis; give it the moment it takes before asking the others.
      await sleep(200);
      const answers = await spread(30, (gw) => chat(gw, token, { model: 'pair' }));
      expect(answers.every((a) => a.status === 200)).toBe(true);
      const later = pair.requests.slice(before + 2).map((r) => r.headers.authorization);
      expect(later).toHaveLength(30);
      expect(later).not.toContain(throttled);
    });

    it('tells an instance that starts later which keys are still cooling', async () => {
      const late = await startGatewayProcess(config, env);
      try {
        const { token } = await mint({});
        const before = pair.requests.length;
        const answers = await Promise.all(
          Array.from({ length: 10 }, () => chat(late, token, { model: 'pair' })),
        );
        expect(answers.every((a) => a.status === 200)).toBe(true);
        const used = new Set(pair.requests.slice(before).map((r) => r.headers.authorization));
        expect(used.size).toBe(1);
      } finally {
        late.child.kill('SIGTERM');
        await late.exited;
      }
    });

    it('keeps serving on the others when one instance is killed mid-load, with one audit chain', async () => {
      const { token } = await mint({});
      const [victim, ...survivors] = instances as [RunningGateway, RunningGateway, RunningGateway];
      const load = spread(90, async (gw) => {
        const answer = await chat(gw, token).catch(() => ({ status: 0, code: 'connection lost' }));
        return { gw, answer };
      });
      await sleep(20);
      victim.child.kill('SIGKILL');
      await victim.exited;
      const results = await load;
      // Only requests that were in the killed process can be lost; the survivors answered all of theirs.
      for (const { gw, answer } of results) if (gw !== victim) expect(answer.status).toBe(200);
      const after = await Promise.all(survivors.map((gw) => chat(gw, token)));
      expect(after.map((a) => a.status)).toEqual([200, 200]);
      const verdict = await adminCall(survivors[0].adminUrl, 'POST', '/admin/audit/verify');
      expect(verdict.json).toMatchObject({ ok: true });
      expect(verdict.json.checked).toBeGreaterThan(10);
    });

    it('never writes the Postgres password in any log line', () => {
      const lines = instances.flatMap((gw) => gw.lines);
      // Request lines included: every test above has run by now.
      expect(lines.length).toBeGreaterThan(100);
      expect(lines.filter((line) => line.includes(PG_PASSWORD))).toEqual([]);
    });

    it('keeps no store, key or secret in any data directory', () => {
      expect(dataDirs).toHaveLength(3);
      for (const dir of dataDirs) expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    });
  },
);
