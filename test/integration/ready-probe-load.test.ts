import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasPostgres } from '../support/postgres.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { PROVIDER_KEY } from '../support/setup.js';
import { usePostgres } from '../support/use-postgres.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `/ready` answers anyone, without a credential. Each call queried Postgres and Redis: an
 * anonymous client polling it in a loop held the store's small connection pool (10 by default)
 * that every authenticated request waits on, and Redis with it. A probe of the backends is now
 * shared by the calls that arrive while it runs, and its answer reused for a second.
 */
describe.skipIf(!hasPostgres() || !hasRedis())(
  'an anonymous /ready flood does not reach the store or Redis per call (needs postgresql and redis-server)',
  () => {
    const postgres = usePostgres();
    let redis: RedisServer;
    let fake: FakeProvider;
    let gw: TestGateway;
    let database: string;

    /** Transactions committed in the gateway's database, as Postgres counts them. */
    const commits = async (): Promise<number> => {
      const client = new pg.Client({ connectionString: postgres.server.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>(
          'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1',
          [database],
        );
        return Number(rows[0]?.n ?? 0);
      } finally {
        await client.end();
      }
    };
    /** Scripts run on Redis (the limiter's calls are scripts), from its own command statistics. */
    const scriptCalls = (): number => {
      const info = spawnSync('redis-cli', ['-p', String(redis.port), 'INFO', 'commandstats'], {
        encoding: 'utf8',
      }).stdout;
      return [...info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
    };
    const ready = async (url: string) => {
      const res = await request(`${url}/ready`);
      const body = (await res.body.json()) as { status: string; problems?: string[] };
      return { status: res.statusCode, body };
    };

    beforeAll(async () => {
      redis = await startRedis();
      fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
      const url = await postgres.database();
      database = new URL(url).pathname.slice(1);
      gw = await startTestGateway(
        {
          storage: { postgres: { url }, redis: { url: redis.url } },
          // Limits on Redis that fail closed: /ready asks Redis too.
          rateLimits: { failMode: 'closed' },
          providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
          models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
        },
        { P_KEY: PROVIDER_KEY, KEYWARD_MASTER_KEY: randomBytes(32).toString('base64') },
      );
    }, 60_000);

    afterAll(async () => {
      await gw?.close();
      await fake?.close();
      await redis?.stop();
    });

    it('800 probes over a few seconds cost a probe a second at most, and the answer is still the truth', async () => {
      expect((await ready(gw.dataUrl)).status).toBe(200);
      /**
       * Commits and script calls over eight rounds of `load`, counted once Postgres has published
       * them, with the stretch's length: the gateway's own traffic (the store watch's poll, four
       * queries a second; heartbeats) runs all along, and a flood on a slow machine makes the
       * stretch longer than a quiet one.
       */
      const measure = async (load: () => Promise<void>) => {
        // Postgres publishes a backend's counts at most once a second.
        await sleep(1500);
        const [commitsBefore, scriptsBefore] = [await commits(), scriptCalls()];
        const started = performance.now();
        for (let round = 0; round < 8; round++) {
          await load();
          await sleep(250);
        }
        const loadSeconds = (performance.now() - started) / 1000;
        await sleep(1500);
        return {
          commits: (await commits()) - commitsBefore,
          scripts: scriptCalls() - scriptsBefore,
          seconds: (performance.now() - started) / 1000,
          loadSeconds,
        };
      };
      // What the gateway does by itself meanwhile (heartbeats, polls), for comparison.
      const quiet = await measure(async () => {});
      const flooded = await measure(async () => {
        const answers = await Promise.all(
          Array.from({ length: 100 }, (_, i) => ready(i % 2 ? gw.dataUrl : gw.adminUrl)),
        );
        expect(answers.every((a) => a.status === 200)).toBe(true);
      });
      // The gateway's own traffic over the flood's stretch, at the quiet stretch's rate.
      const own = (count: number) => (count * flooded.seconds) / quiet.seconds;
      // A probe a second at most while probed, and a little slack: 800 (one a call) before. Redis
      // counts its scripts as they run, so that bound is tight. Postgres publishes a backend's
      // counts late (up to 10 s once it goes idle within a second of its last report), so commits
      // of the quiet stretch may be counted in the flood's: theirs is held to a tenth of one a call.
      const probes = Math.ceil(flooded.loadSeconds) + 1;
      expect(flooded.scripts - own(quiet.scripts)).toBeLessThan(probes + 3);
      expect(flooded.commits - own(quiet.commits)).toBeLessThan(80);

      // Redis gone: within about a second /ready says so, on both listeners.
      await redis.stop();
      await sleep(1200);
      const data = await ready(gw.dataUrl);
      expect(data).toEqual({ status: 503, body: { status: 'unavailable' } });
      const admin = await ready(gw.adminUrl);
      expect(admin.status).toBe(503);
      expect(admin.body.problems).toEqual(['redis: unreachable, and rate limits fail closed']);
    }, 60_000);
  },
);
