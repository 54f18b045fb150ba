import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * Budget spend the Redis limiter could not send while its connection was cut and Redis kept its
 * data (a network blip, not a restart): a settle refused for want of a connection, and a request
 * `failMode: 'open'` let through meanwhile. Both reach the budget's counter once the connection is
 * back, or a client could spend past its budget by what its requests cost during the outage; and
 * neither is added to a counter seeded again from the store, which holds it already.
 */

// Output only, 1,000 µ$ a token: a request sending max_tokens 1 reserves 1,000 µ$ and, answered
// with the fake's dozen tokens or so, spends more than twice the budget.
const PRICE = { input: 0, output: 1_000 };
const BUDGET_MICROS = 5_000;

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let redis: RedisServer | undefined;
let raw: Redis | undefined;
let fake: Fake | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  raw?.disconnect();
  await kw?.close();
  await fake?.close();
  await redis?.stop();
  raw = undefined;
  kw = undefined;
  fake = undefined;
  redis = undefined;
});

async function start(failMode: 'closed' | 'open') {
  redis = await startRedis();
  // The test's own connection, made before any cut: it is spared by the cut and does the cutting.
  raw = new Redis(redis.url);
  await raw.ping();
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      storage: { redis: { url: redis.url } },
      rateLimits: { backend: 'redis', failMode },
      pricing: { 'gpt-4o-mini': PRICE },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
  const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
    name: 'budgeted',
    budget: { usd: BUDGET_MICROS / 1e6, period: 'day' },
  });
  return { raw, fake, kw, token: minted.json.token as string };
}

/**
 * Cuts the gateway's connections while Redis keeps its data, and keeps them from coming back until
 * `reconnect`: no room for a new client, then every client but this one closed.
 */
async function cut(raw: Redis, gateway: TestGateway, token: string): Promise<void> {
  await raw.config('SET', 'maxclients', '1');
  await raw.client('KILL', 'TYPE', 'normal');
  // Once the limiter has seen its connection close, its commands fail at once, never sent.
  await expect.poll(async () => (await spentMicros(gateway, token)).status).not.toBe(200);
}

async function reconnect(raw: Redis): Promise<void> {
  await raw.config('SET', 'maxclients', '10000');
}

async function ask(gateway: TestGateway, token: string) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', max_tokens: 1, messages: [{ role: 'user', content: 'Hi' }] }),
  });
  const json = (await res.body.json()) as {
    usage?: { completion_tokens: number };
    error?: { code?: string };
  };
  return { status: res.statusCode, json };
}

/** The budget's spent total as GET /v1/rate-limit-status reads it from Redis. */
async function spentMicros(gateway: TestGateway, token: string) {
  const res = await request(`${gateway.dataUrl}/v1/rate-limit-status`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const json = (await res.body.json()) as { budgets?: Array<{ spentUsd: number }> };
  const spent = json.budgets?.[0]?.spentUsd;
  return { status: res.statusCode, micros: spent === undefined ? undefined : Math.round(spent * 1e6) };
}

const costOf = (answer: Awaited<ReturnType<typeof ask>>) =>
  answer.json.usage!.completion_tokens * PRICE.output;

describe.skipIf(!hasRedis())(
  'budget spend Redis did not get while the connection was cut (needs redis-server)',
  () => {
    it('adds the spend of a request whose settle could not be sent once the connection is back', async () => {
      const { raw, fake, kw, token } = await start('closed');
      fake.script({ delayHeadersMs: 1_000 });
      const held = ask(kw, token);
      await fake.waitForRequests(1);
      await cut(raw, kw, token);
      const answer = await held;
      expect(answer.status).toBe(200);
      const cost = costOf(answer);
      expect(cost).toBeGreaterThan(BUDGET_MICROS);
      // Its settle has been refused by now: the connection is still down.
      await sleep(200);
      await reconnect(raw);

      await expect
        .poll(async () => (await spentMicros(kw, token)).micros, { timeout: 5_000, interval: 100 })
        .toBe(cost);
      // Spent past the budget, refused. Before, the counter stayed at 0 until its daily reseed, and
      // this request passed (the lost settle's reservation holds only its 1,000 µ$ estimate).
      expect(await ask(kw, token)).toMatchObject({
        status: 429,
        json: { error: { code: 'budget_exceeded' } },
      });
    });

    it("adds the spend of a request failMode 'open' let through while Redis could not be asked", async () => {
      const { raw, kw, token } = await start('open');
      // Seeds the budget's counter (at 0), as any earlier request would have.
      expect(await spentMicros(kw, token)).toEqual({ status: 200, micros: 0 });
      await cut(raw, kw, token);
      const answer = await ask(kw, token);
      expect(answer.status).toBe(200);
      const cost = costOf(answer);
      expect(cost).toBeGreaterThan(BUDGET_MICROS);
      await sleep(200);
      await reconnect(raw);

      await expect
        .poll(async () => (await spentMicros(kw, token)).micros, { timeout: 5_000, interval: 100 })
        .toBe(cost);
      expect(await ask(kw, token)).toMatchObject({
        status: 429,
        json: { error: { code: 'budget_exceeded' } },
      });
    });

    it('counts once a settle that was sent and timed out before the connection was cut', async () => {
      const { raw, fake, kw, token } = await start('closed');
      fake.script({ delayHeadersMs: 500 });
      const held = ask(kw, token);
      await fake.waitForRequests(1);
      // Scripts wait: the settle is written, times out, and is still unanswered when the cut comes.
      await raw.client('PAUSE', '5000', 'WRITE');
      const answer = await held;
      expect(answer.status).toBe(200);
      const cost = costOf(answer);
      await sleep(800);
      await cut(raw, kw, token);
      await raw.client('UNPAUSE');
      await reconnect(raw);

      // ioredis writes the unanswered settle again on the new connection: that one counts it.
      await expect
        .poll(async () => (await spentMicros(kw, token)).micros, { timeout: 5_000, interval: 100 })
        .toBe(cost);
      await sleep(300);
      expect(await spentMicros(kw, token)).toEqual({ status: 200, micros: cost });
    });

    it('does not add it again to a counter seeded afresh after Redis lost its data', async () => {
      const { raw, kw, token } = await start('open');
      expect(await spentMicros(kw, token)).toEqual({ status: 200, micros: 0 });
      const [counter] = await raw.keys('keyward:bs:*');
      await cut(raw, kw, token);
      const answer = await ask(kw, token);
      expect(answer.status).toBe(200);
      const cost = costOf(answer);
      await sleep(200);
      // Redis restarted empty while this gateway was cut off, and another instance, back first,
      // seeded the counter from the store, which holds this request's spend.
      await raw.flushall();
      await raw.set(counter!, String(cost));
      await reconnect(raw);

      // The ready connection has told the dataset apart (a new epoch) and sent what it kept.
      await expect.poll(() => raw.exists('keyward:epoch'), { timeout: 5_000, interval: 100 }).toBe(1);
      expect(await spentMicros(kw, token)).toEqual({ status: 200, micros: cost });
    });
  },
);
