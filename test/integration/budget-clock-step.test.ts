import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-budget-clock-step-provider-key-0123';
const DAY_MS = 86_400_000;

/**
 * A wall clock stepped forward for a moment (an NTP correction, a bad boot clock) and back. One
 * request during a step to +30 days had the gateway date every later usage row with that future
 * day and keep each token's budget on its key: a daily budget never turned at midnight until the
 * wall clock reached that date, and the rows dated in it counted in every period before it.
 */
describe('a wall clock stepped forward and back', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;
  // Only the clock is faked (timers and sockets stay real), as libfaketime moves the wall clock alone.
  const start = Date.UTC(2026, 11, 7, 4, 0, 0);

  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(start);
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        providers: [{ id: 'o', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'o', model: 'gpt-4o-mini' }],
        // A few requests spend a budget of $0.10 (each is reserved about $0.013).
        pricing: { 'gpt-4o-mini': { input: 100, output: 1000 } },
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
    vi.useRealTimers();
  });

  const chat = async (token: string) => {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  /** Requests until one is refused: how many passed. */
  const spend = async (token: string) => {
    for (let passed = 0; passed < 50; passed++) if ((await chat(token)) !== 200) return passed;
    throw new Error('the budget was never spent');
  };

  it('dates usage and turns a daily budget by the clock once it is right again', async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'clock-step',
      budget: { usd: 0.1, period: 'day' },
    });
    const { token, id } = minted.json as { token: string; id: string };
    expect(await chat(token)).toBe(200);

    // The step: a future day's budget spent in full.
    vi.setSystemTime(start + 30 * DAY_MS);
    expect(await spend(token)).toBeGreaterThan(0);

    // Back: today's budget has what today spent, and is then spent in its turn.
    vi.setSystemTime(start + 2_000);
    expect(await chat(token)).toBe(200);
    expect(await spend(token)).toBeGreaterThanOrEqual(0);
    expect(await chat(token)).toBe(429);

    // The next real midnight turns it, the future day's spend apart.
    vi.setSystemTime(Date.UTC(2026, 11, 8, 0, 0, 1));
    expect(await chat(token)).toBe(200);

    const usage = await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=day&tokenId=${id}`);
    const days = (usage.json.rows as { group: string; requests: number }[]).map((row) => row.group);
    expect(days.sort()).toEqual(['2026-12-07', '2026-12-08', '2027-01-06']);
    const on = (day: string) =>
      (usage.json.rows as { group: string; requests: number }[]).find((row) => row.group === day)!;
    expect(on('2026-12-08').requests).toBe(1);
  });
});
