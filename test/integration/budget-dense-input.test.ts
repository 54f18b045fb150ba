import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-dense-input-provider-key-0123456789';

/**
 * A budget reserves each request's cost before it is sent, so that requests at once cannot
 * overrun it together. Input was reserved at four bytes a token; some text is counted far denser
 * (o200k counts combining marks at 0.94 tokens a byte, random printable ASCII at 0.73), so a
 * burst of such requests was admitted at a quarter of its cost and spent 3.7 × a budget. No
 * tokenizer counts more tokens than bytes: a budget now reserves input at a token a byte, up to
 * the context window (never less than before).
 */
describe('a budget under text counted a token a byte', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;
  /** Micro-dollars a token: a few requests spend the budget. */
  const price = { input: 100, output: 1000 };
  const budgetUsd = 0.5;
  const maxTokens = 10;
  /** 300 combining acute accents: 600 bytes, which the provider counts as 603 tokens. */
  const dense = '\u0301'.repeat(300);
  const body = JSON.stringify({
    model: 'fast',
    max_tokens: maxTokens,
    messages: [{ role: 'user', content: dense }],
  });

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY], denseTokens: true });
    // A slow model: each wave's admitted requests are in flight until the whole wave is decided.
    fake.whenKey(PROVIDER_KEY, { delayHeadersMs: 300 });
    kw = await startTestGateway(
      {
        providers: [{ id: 'o', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [
          { name: 'fast', provider: 'o', model: 'gpt-4o-mini' },
          { name: 'embed', provider: 'o', model: 'text-embedding-3-small' },
        ],
        pricing: { 'gpt-4o-mini': price, 'text-embedding-3-small': price },
        // Small, so that an embeddings batch is larger than a context window.
        conversations: { contextTokens: 1024 },
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  it('waves of requests at once spend no more than the budget and one reservation', async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'dense',
      budget: { usd: budgetUsd, period: 'day' },
    });
    const send = async () => {
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${minted.json.token}`, 'content-type': 'application/json' },
        body,
      });
      await res.body.dump();
      return res.statusCode;
    };
    const reservation = Buffer.byteLength(body) * price.input + maxTokens * price.output;
    const waves: number[] = [];
    for (let wave = 0; wave < 10; wave++) {
      const statuses = await Promise.all(Array.from({ length: 30 }, send));
      expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
      const passed = statuses.filter((status) => status === 200).length;
      waves.push(passed);
      if (passed === 0) break;
    }
    expect(waves.at(-1)).toBe(0);
    // The first wave: as many reservations as fit at once, at a token a byte.
    expect(waves[0]).toBe(Math.floor((budgetUsd * 1e6) / reservation));
    const spent = async () =>
      (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${minted.json.id}`)).json.rows[0];
    await expect.poll(async () => (await spent())?.requests).toBe(waves.reduce((a, b) => a + b, 0));
    expect((await spent()).costMicros).toBeLessThanOrEqual(budgetUsd * 1e6 + reservation);
  });

  it('reserves a batch of embeddings inputs at a token a byte, past the context window', async () => {
    // Each input may fill a model's window (OpenAI: 8,192 tokens, and 300,000 in a request), so
    // the window caps nothing: held to it, 12 batches at once spent 1.47 × a budget.
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'dense-embeddings',
      budget: { usd: budgetUsd, period: 'day' },
    });
    // 4 inputs of 600 bytes each: 2,400 bytes a batch, over the 1,024-token window configured.
    const batch = JSON.stringify({ model: 'embed', input: Array.from({ length: 4 }, () => dense) });
    const send = async () => {
      const res = await request(`${kw.dataUrl}/v1/embeddings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${minted.json.token}`, 'content-type': 'application/json' },
        body: batch,
      });
      await res.body.dump();
      return res.statusCode;
    };
    const reservation = Buffer.byteLength(batch) * price.input;
    const statuses = await Promise.all(Array.from({ length: 30 }, send));
    expect(statuses.every((status) => status === 200 || status === 429)).toBe(true);
    expect(statuses.filter((status) => status === 200)).toHaveLength(
      Math.floor((budgetUsd * 1e6) / reservation),
    );
    const spent = async () =>
      (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${minted.json.id}`)).json.rows[0];
    await expect.poll(async () => (await spent())?.requests).toBe(statuses.filter((s) => s === 200).length);
    expect((await spent()).costMicros).toBeLessThanOrEqual(budgetUsd * 1e6);
  });
});
