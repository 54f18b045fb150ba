import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * Redis stalled for longer than the limiter's command timeout (500 ms): a fork for BGSAVE, a
 * failover, here CLIENT PAUSE. The request waiting on it gets 503 `rate_limiter_unavailable`, but
 * Redis runs its acquire once it resumes. Before, that acquire's concurrency slot and budget
 * reservation stayed taken for no request until its lease lapsed (the total deadline plus a minute,
 * 11 minutes by default), and every request of the token was refused meanwhile, on every instance.
 */

const TPM = 6_000;
// Each request reserves its max_tokens (and its few input tokens) of the token's TPM.
const MAX_TOKENS = 2_000;
// Longer than the limiter's 500 ms command timeout.
const STALL_MS = 1_500;

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

async function start() {
  redis = await startRedis();
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      storage: { redis: { url: redis.url } },
      rateLimits: { backend: 'redis', failMode: 'closed' },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
  const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
    name: 'stalled',
    limits: { concurrency: 1, tpm: TPM },
    budget: { usd: 1, period: 'total' },
  });
  return { redis, fake, kw, token: minted.json.token as string };
}

async function ask(gateway: TestGateway, token: string) {
  const res = await request(`${gateway.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'fast',
      max_tokens: MAX_TOKENS,
      messages: [{ role: 'user', content: 'Hi' }],
    }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    code: text.startsWith('{') ? (JSON.parse(text).error?.code as string | undefined) : undefined,
    tokensLeft: Number(res.headers['x-ratelimit-remaining-tokens']),
  };
}

interface LimitStatus {
  rates: Array<{ name: string; remaining: number }>;
  concurrency: Array<{ inUse: number }>;
  budgets: Array<{ reservedUsd: number }>;
}

/** The token's limits as `GET /v1/rate-limit-status` reads them from Redis (undefined while it stalls). */
async function limitStatus(gateway: TestGateway, token: string) {
  const res = await request(`${gateway.dataUrl}/v1/rate-limit-status`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const json = (await res.body.json()) as LimitStatus;
  if (res.statusCode !== 200) return undefined;
  return {
    inUse: json.concurrency[0]?.inUse,
    reservedUsd: json.budgets[0]?.reservedUsd,
    tokensLeft: json.rates.find((rate) => rate.name === 'tpm')?.remaining,
  };
}

describe.skipIf(!hasRedis())('a Redis stall longer than the command timeout (needs redis-server)', () => {
  it('leaves no slot or reservation behind for the request it refused', async () => {
    const { redis, kw, token } = await start();
    expect((await ask(kw, token)).status).toBe(200);
    await redis.pause(STALL_MS);
    const started = Date.now();
    expect(await ask(kw, token)).toMatchObject({ status: 503, code: 'rate_limiter_unavailable' });
    expect(Date.now() - started).toBeLessThan(STALL_MS);

    // Once Redis resumes it runs the refused request's acquire, then its release.
    await sleep(STALL_MS);
    await expect
      .poll(() => limitStatus(kw, token), { timeout: 5_000, interval: 100 })
      .toMatchObject({ inUse: 0, reservedUsd: 0 });
    const next = await ask(kw, token);
    // Before: 429 concurrency_limit_exceeded, for the 11 minutes the refused request's lease lasted.
    expect(next).toMatchObject({ status: 200 });
    // Its reserved tokens went back too: the bucket holds what the first request used and this
    // one's reservation, nothing for the refused one (whose reservation was as large).
    expect(next.tokensLeft).toBeGreaterThan(TPM - MAX_TOKENS - 500);
  });

  it('takes nothing back for a refused request whose acquire Redis then refused too', async () => {
    const { redis, fake, kw, token } = await start();
    // Holds the token's one slot past the stall.
    fake.script({ delayHeadersMs: STALL_MS + 3_000 });
    const held = ask(kw, token);
    await fake.waitForRequests(1);
    const before = await limitStatus(kw, token);
    expect(before).toMatchObject({ inUse: 1 });

    await redis.pause(STALL_MS);
    expect(await ask(kw, token)).toMatchObject({ status: 503, code: 'rate_limiter_unavailable' });
    await sleep(STALL_MS);
    // Redis ran the acquire (denied: the slot is taken) and then its release, which found no lease:
    // the slot and the reservation in flight are still held, and no tokens came back.
    const after = await limitStatus(kw, token);
    expect(after).toMatchObject({ inUse: 1, reservedUsd: before!.reservedUsd });
    // Refilled at TPM a minute meanwhile (about 3 s), and no more.
    expect(after!.tokensLeft).toBeLessThan(before!.tokensLeft! + 500);
    expect(await ask(kw, token)).toMatchObject({ status: 429, code: 'concurrency_limit_exceeded' });
    expect((await held).status).toBe(200);
  });
});
