import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-budget-spent-provider-key-0123456789';

/**
 * What a request refused by a spent budget is told: when the budget's period turns (the next UTC
 * day or month), or that a total budget never resets. Every refusal had said "it resets in
 * 86400 s", the lifetime of the gateway's counter, which a total budget never does and a monthly
 * one does at the month's end; and the SDKs retried what cannot succeed before then.
 */
describe('a spent budget', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        providers: [{ id: 'o', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'o', model: 'gpt-4o-mini' }],
        // A few requests spend a budget of $0.05, each estimated at less than the whole of it.
        pricing: { 'gpt-4o-mini': { input: 100, output: 1000 } },
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  /** A token whose budget of `period` is spent: requests until one is refused; that refusal. */
  async function spent(period: 'day' | 'month' | 'total') {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `spent-${period}`,
      budget: { usd: 0.05, period },
    });
    for (let i = 0; i < 50; i++) {
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${minted.json.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
      });
      const json = (await res.body.json()) as { error?: { code?: string; message: string } };
      if (res.statusCode !== 200) {
        expect(res.statusCode).toBe(429);
        expect(json.error?.code).toBe('budget_exceeded');
        return { headers: res.headers, message: json.error!.message, token: minted.json.token as string };
      }
    }
    throw new Error('the budget was never spent');
  }
  const secondsUntil = (at: number) => (at - Date.now()) / 1000;
  /** Chat requests answered 429, from the gateway's own metrics. */
  const refusedCount = async (): Promise<number> => {
    const res = await request(`${kw.adminUrl}/metrics`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    const text = await res.body.text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith('keyward_requests_total{') &&
          l.includes('route="/v1/chat/completions"') &&
          l.includes('status="429"'),
      );
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('of a day says it turns at the next UTC midnight, and asks for no retry before', async () => {
    const { headers, message } = await spent('day');
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    expect(Math.abs(Number(headers['retry-after']) - secondsUntil(midnight))).toBeLessThan(5);
    expect(headers['x-should-retry']).toBe('false');
    expect(message).toMatch(
      /^The daily budget of this token is spent, .*; it starts again at 00:00 UTC, in \d+ s$/,
    );
  });

  it('of a month says it turns on the first of the next month', async () => {
    const { headers, message } = await spent('month');
    const now = new Date();
    const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(Math.abs(Number(headers['retry-after']) - secondsUntil(next))).toBeLessThan(5);
    expect(headers['x-should-retry']).toBe('false');
    const first = new Date(next).toISOString().slice(0, 10);
    expect(message).toMatch(
      new RegExp(
        `^The monthly budget of this token is spent, .*; it starts again on ${first} \\(UTC\\), in \\d+ s$`,
      ),
    );
  });

  it('in total says it does not reset, with no Retry-After, and the SDK does not retry', async () => {
    const { headers, message, token } = await spent('total');
    expect(headers['retry-after']).toBeUndefined();
    expect(headers['x-should-retry']).toBe('false');
    expect(message).toMatch(
      /^The total budget of this token is spent, .*; it does not reset: an admin can raise it$/,
    );
    // The SDK, which retries a 429 twice by default, sends it once.
    const before = await refusedCount();
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token });
    await expect(
      client.chat.completions.create({
        model: 'fast',
        max_tokens: 5,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    ).rejects.toMatchObject({ status: 429 });
    expect((await refusedCount()) - before).toBe(1);
  });
});
