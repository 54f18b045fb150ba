import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { nextPacificMidnight } from '../support/pacific.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A Gemini key whose per-day quota is spent (a 429 whose `QuotaFailure` names
 * `GenerateContentPaidTierInputTokensPerModelPerDay`; Google's `RetryInfo` says seconds all the
 * same) is out for the model until the quota resets at midnight Pacific time. With every key out,
 * the client is told when, and that its SDK should not wait for it or send the request again.
 * A request that may have filled the quota by itself takes no key out.
 */
const KEY_A = 'AIzaSyDaily-quota-key-aaaaaaaaaaaaaaaaa1';
const KEY_B = 'AIzaSyDaily-quota-key-bbbbbbbbbbbbbbbbb2';

const answer: Script = {
  blocks: [{ type: 'text', text: 'Hi' }],
  stop: 'end',
  usage: { input: 5, output: 2 },
};
/** As Google answers a spent per-day quota: a `RetryInfo` of seconds beside it. */
const dailyHit: Script = {
  ...answer,
  fault: { kind: 'status', status: 429, quota: 'input_tokens_daily', retryAfterSeconds: 36 },
};

let gemini: FakeProvider;
let kw: TestGateway;
beforeAll(async () => {
  gemini = await startFakeProvider('gemini', { keys: [KEY_A, KEY_B] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'g', type: 'gemini', baseUrl: gemini.baseUrl, keys: { env: 'POOL' } }],
      models: [{ name: 'fast', provider: 'g', model: 'gemini-2.5-flash' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, POOL: `${KEY_A},${KEY_B}` },
  );
});
afterAll(async () => {
  await kw?.close();
  await gemini?.close();
});

// Default retries (2), as a client gets them unless it asks otherwise.
const openai = () => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY });
const posts = () => gemini.requests.filter((r) => r.method === 'POST').length;

async function failed(
  call: Promise<unknown>,
): Promise<{ status?: number; headers?: Headers; message: string }> {
  try {
    await call;
  } catch (error) {
    return error as { status?: number; headers?: Headers; message: string };
  }
  throw new Error('the call succeeded');
}

const cooling = async () =>
  (
    (await adminCall(kw.adminUrl, 'GET', '/admin/keys')).json.providers[0].keys as Array<{
      coolingModels: unknown[];
    }>
  ).map((key) => key.coolingModels.length);

describe('a spent per-day Gemini quota', () => {
  it('takes no key out for a request that may have filled the quota by itself', async () => {
    gemini.script(dailyHit);
    const video = [
      {
        role: 'user' as const,
        content: [
          { type: 'text' as const, text: 'Summarize this video' },
          {
            type: 'image_url' as const,
            image_url: { url: 'https://generativelanguage.googleapis.com/v1beta/files/v1' },
          },
        ],
      },
    ];
    const before = posts();
    const error = await failed(
      openai().chat.completions.create({ model: 'fast', messages: video }, { maxRetries: 0 }),
    );
    expect(error.status).toBe(429);
    expect(posts() - before).toBe(2);
    expect(await cooling()).toEqual([0, 0]);
  });

  it('takes each key out until midnight Pacific; the SDK is told when, at once, and does not resend', async () => {
    gemini.script(dailyHit);
    const before = posts();
    const started = Date.now();
    const error = await failed(
      openai().chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(error.status).toBe(429);
    // Each key was asked once; the SDK did not wait 36 s, nor send the request again.
    expect(posts() - before).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.headers?.get('x-should-retry')).toBe('false');
    const untilMidnight = (nextPacificMidnight(Date.now()) - Date.now()) / 1000;
    const retryAfter = Number(error.headers?.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(untilMidnight - 5);
    expect(retryAfter).toBeLessThan(untilMidnight + 5);
    expect(error.message).toContain(
      `at ${new Date(nextPacificMidnight(started)).toISOString().slice(0, 13)}`,
    );
    expect(await cooling()).toEqual([1, 1]);

    // Later requests are refused at once, without reaching the provider.
    const again = await failed(
      openai().chat.completions.create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(again.status).toBe(429);
    expect(again.headers?.get('x-should-retry')).toBe('false');
    expect(posts() - before).toBe(2);
  });
});
