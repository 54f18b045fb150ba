import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Redis killed and restarted (empty) while requests are in flight, through the real gateway: the
 * configured fail mode answers while it is down, limits work again once it is back, and leases
 * taken before the restart and settled after it do not count twice (nor refund into the new,
 * empty buckets and let more than the limit through).
 */
const RPM = 12;
const WORKERS = 6;

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let redis: RedisServer | undefined;
let fake: Fake | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  await kw?.close();
  await fake?.close();
  await redis?.stop();
  kw = undefined;
  fake = undefined;
  redis = undefined;
});

async function start(failMode: 'closed' | 'open', concurrency = WORKERS) {
  redis = await startRedis();
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      storage: { redis: { url: redis.url } },
      rateLimits: {
        backend: 'redis',
        failMode,
        staticKeys: { rpm: RPM, tpm: 1_000_000, concurrency },
      },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
  return { redis, fake, kw };
}

const dispatcher = new Agent({ connections: WORKERS * 2 });
async function chat(gateway: TestGateway, signal?: AbortSignal) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    dispatcher,
    signal,
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'Hello' }] }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    code: text.startsWith('{') ? JSON.parse(text).error?.code : undefined,
  };
}

/** Requests sent one after another until the first 429: how many the fresh limit let through. */
async function burstUntilLimited(gateway: TestGateway): Promise<number> {
  for (let allowed = 0; allowed < RPM * 3; allowed++) {
    const answer = await chat(gateway);
    if (answer.status === 429) return allowed;
    expect(answer.status).toBe(200);
  }
  return Number.POSITIVE_INFINITY;
}

describe.skipIf(!hasRedis())(
  'Redis restarted under load (needs redis-server: apt-get install redis-server)',
  () => {
    it('fails closed while Redis is down, recovers, and counts leases from before the restart once', async () => {
      const { redis, fake, kw } = await start('closed');
      // Every request waits upstream, so that leases are held across the restart.
      fake.script(...Array.from({ length: WORKERS }, () => ({ delayHeadersMs: 400 })));
      const inFlight = Array.from({ length: WORKERS }, () => chat(kw));
      await fake.waitForRequests(WORKERS);
      await redis.stop();
      const down = await Promise.all(Array.from({ length: 4 }, () => chat(kw)));
      expect(down.map((a) => a.status)).toEqual([503, 503, 503, 503]);
      expect(down[0]!.code).toBe('rate_limiter_unavailable');
      // The status route says the same, not a 500.
      const status = await request(`${kw.dataUrl}/v1/rate-limit-status`, {
        dispatcher,
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
      });
      expect({ status: status.statusCode, retryAfter: status.headers['retry-after'] }).toEqual({
        status: 503,
        retryAfter: '1',
      });
      expect(((await status.body.json()) as { error: { code: string } }).error.code).toBe(
        'rate_limiter_unavailable',
      );
      await redis.restart();
      // Answered by the provider, whatever happened to their leases meanwhile.
      expect((await Promise.all(inFlight)).map((a) => a.status)).toEqual(Array(WORKERS).fill(200));

      await expect.poll(async () => (await chat(kw)).status, { timeout: 10_000, interval: 100 }).toBe(200);
      // The new, empty Redis holds one request (the poll's) and the settles of the leases taken
      // before the restart: they must neither count again nor refund into the new buckets. The
      // bucket refills one request every 60/RPM s, so one more may slip in during the burst.
      const allowed = await burstUntilLimited(kw);
      expect(allowed).toBeGreaterThanOrEqual(RPM - 1 - 1);
      expect(allowed).toBeLessThanOrEqual(RPM - 1 + 1);
      const metrics = await kw.gateway.metrics.render();
      expect(metrics).toMatch(/keyward_rate_limiter_unavailable_total\{mode="closed"\} [1-9]/);
    });

    it('puts in-flight budget reservations back into a Redis that restarted empty: a budget is not reserved twice', async () => {
      const { redis, fake, kw } = await start('closed');
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'budgeted',
        budget: { usd: 0.001, period: 'day' },
      });
      const token = minted.json.token as string;
      // 1,000 output tokens of gpt-4o-mini reserve $0.0006: one such request fits the $0.001, two do not.
      const ask = async () => {
        const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
          method: 'POST',
          dispatcher,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'fast',
            max_tokens: 1_000,
            messages: [{ role: 'user', content: 'Hi' }],
          }),
        });
        const text = await res.body.text();
        return {
          status: res.statusCode,
          code: text.startsWith('{') ? JSON.parse(text).error?.code : undefined,
        };
      };
      fake.script({ delayHeadersMs: 1_500 });
      const held = ask();
      await fake.waitForRequests(1);
      expect(await ask()).toMatchObject({ status: 429, code: 'budget_exceeded' });
      await redis.stop();
      await redis.restart();
      // Once the limiter is back, the reservation in flight is held again.
      let answer = await ask();
      for (let i = 0; i < 50 && answer.code === 'rate_limiter_unavailable'; i++) {
        await sleep(100);
        answer = await ask();
      }
      expect(answer).toMatchObject({ status: 429, code: 'budget_exceeded' });
      expect((await held).status).toBe(200);
      // Settled at what it used, the budget has room again.
      expect((await ask()).status).toBe(200);
    });

    it('lets requests through unlimited while Redis is down when failMode is open', async () => {
      const { redis, kw } = await start('open');
      await redis.stop();
      const down = await Promise.all(Array.from({ length: RPM + 3 }, () => chat(kw)));
      expect(down.every((a) => a.status === 200)).toBe(true);
      await redis.restart();
      await expect
        .poll(async () => burstUntilLimited(kw), { timeout: 10_000, interval: 100 })
        .toBeLessThanOrEqual(RPM);
    });

    it('releases the concurrency slot of a client that left while Redis decided, and calls no provider for it', async () => {
      const { redis, fake, kw } = await start('closed', 1);
      await redis.pause(300);
      const leaving = new AbortController();
      const gone = chat(kw, leaving.signal);
      await sleep(100);
      leaving.abort();
      await expect(gone).rejects.toThrow();
      await sleep(400);
      // Before, the slot stayed taken until its lease lapsed (the total deadline plus a minute).
      const next = await chat(kw);
      expect(next.status).toBe(200);
      // Leaving frees the slot, not the request it cost: a client cannot dodge its rate that way.
      expect(next.headers['x-ratelimit-remaining-requests']).toBe(String(RPM - 2));
      expect(fake.requests).toHaveLength(1);
    });
  },
);
