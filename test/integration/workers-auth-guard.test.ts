import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { type RunningGateway, startWorkers, writeTempConfig } from '../support/process.js';
import { PROVIDER_KEY } from '../support/setup.js';

const CAP = 5;
/**
 * Guesses judged past the cap: the other worker's guess of a pair sent together may be judged
 * before the primary's word that the cap is full reaches it (docs/decisions.md, Workers).
 */
const SLACK = 1;
const NOT_A_KEY = 'kw-not-a-key-at-all-0000000000000000';

describe('keyward start --workers 2: the failed-authentication guard', () => {
  let fake: FakeProvider;
  let kw: RunningGateway;
  // A connection per request, so that the cluster spreads them over both workers.
  const fresh = new Agent({ pipelining: 0, keepAliveTimeout: 1, headersTimeout: 5000, bodyTimeout: 5000 });

  const call = async (url: string, credential: string, forwardedFor?: string) => {
    const res = await request(url, {
      method: 'POST',
      dispatcher: fresh,
      headers: {
        authorization: `Bearer ${credential}`,
        'content-type': 'application/json',
        connection: 'close',
        ...(forwardedFor !== undefined && { 'x-forwarded-for': forwardedFor }),
      },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.dump();
    return { status: res.statusCode, retryAfter: Number(res.headers['retry-after']) };
  };
  const chat = (credential: string, forwardedFor?: string) =>
    call(`${kw.dataUrl}/v1/chat/completions`, credential, forwardedFor);

  /** `count` guesses in pairs sent together: round-robin hands one of each pair to each worker. */
  const inPairs = async (count: number, guess: (i: number) => ReturnType<typeof call>) => {
    const answers = [];
    for (let i = 0; i < count; i += 2) answers.push(...(await Promise.all([guess(i), guess(i + 1)])));
    return answers;
  };
  const expectCapped = (answers: Array<{ status: number; retryAfter: number }>) => {
    const judged = answers.filter((a) => a.status === 401).length;
    expect(judged).toBeGreaterThanOrEqual(CAP);
    expect(judged).toBeLessThanOrEqual(CAP + SLACK);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(answers.length - judged);
    for (const { retryAfter } of refused) expect(retryAfter).toBeGreaterThan(0);
    for (const { retryAfter } of refused) expect(retryAfter).toBeLessThanOrEqual(60);
  };
  const mint = async () =>
    (await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'guarded' })).json as {
      token: string;
      id: string;
    };

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const config = writeTempConfig({
      server: { port: 0, trustProxy: ['127.0.0.1'] },
      admin: { port: 0 },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      rateLimits: { perIp: { failuresPerMinute: CAP } },
    });
    kw = await startWorkers(config, { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY });
  });
  afterAll(async () => {
    await kw?.stop();
    await fresh.close();
    await fake?.close();
  });

  it("judges one address's guesses up to the cap across both workers, and still serves it a valid token", async () => {
    expectCapped(await inPairs(20, () => chat(NOT_A_KEY, '198.51.100.1')));
    const { token } = await mint();
    const served = await Promise.all(Array.from({ length: 4 }, () => chat(token, '198.51.100.1')));
    expect(served.map((a) => a.status)).toEqual([200, 200, 200, 200]);
  });

  it("judges guesses at one token id from many addresses up to the cap, and locks out neither its holder nor the guessers' other credentials", async () => {
    const good = await mint();
    const wrong = (i: number) => `${good.token.slice(0, -4)}${String(i).padStart(4, 'A')}`;
    expectCapped(await inPairs(20, (i) => chat(wrong(i), `198.51.100.${i + 10}`)));
    const served = await Promise.all(Array.from({ length: 4 }, () => chat(good.token, '198.51.100.200')));
    expect(served.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    const others = await Promise.all(Array.from({ length: 4 }, () => chat(NOT_A_KEY, '198.51.100.10')));
    expect(others.map((a) => a.status)).toEqual([401, 401, 401, 401]);
  });

  it('judges wrong admin keys up to the cap across both workers, and still serves the admin key', async () => {
    const tokens = `${kw.adminUrl}/admin/tokens`;
    expectCapped(await inPairs(20, (i) => call(tokens, `kwa-wrong-admin-key-${i}`)));
    const served = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const res = await request(tokens, {
          dispatcher: fresh,
          headers: { authorization: `Bearer ${ADMIN_KEY}`, connection: 'close' },
        });
        await res.body.dump();
        return res.statusCode;
      }),
    );
    expect(served).toEqual([200, 200, 200, 200]);
  });
});
