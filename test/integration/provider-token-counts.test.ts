import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

/**
 * A provider's token counts are not trusted to be whole and positive. Taken as sent, one answer
 * counting 11.5 input tokens stopped every later usage batch from being written, for every client
 * (SQLite refuses a REAL in an INTEGER column), and one counting -1,000,000 paid a token's budget
 * back a dollar.
 */

const answer = (input: number, output: number): Script => ({
  blocks: [{ type: 'text', text: 'Counted.' }],
  stop: 'end',
  usage: { input, output },
});

describe("a provider's odd token counts", () => {
  let openai: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        providers: [{ id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [{ name: 'gpt', provider: 'openai', model: 'gpt-4o' }],
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await openai?.close();
  });

  const mint = async (name: string) => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name,
      budget: { usd: 10, period: 'day' },
    });
    expect(minted.status).toBe(201);
    return minted.json as { id: string; token: string };
  };
  const usage = async (tokenId: string) =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0] as
      | { requests: number; inputTokens: number; outputTokens: number; costMicros: number }
      | undefined;
  const ask = (token: string) =>
    new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 }).chat.completions.create({
      model: 'gpt',
      max_tokens: 50,
      messages: [{ role: 'user', content: 'Count this.' }],
    });

  it('rounds a fraction up, and every later request is still recorded', async () => {
    const odd = await mint('fraction');
    openai.script(answer(11.5, 2.2));
    expect((await ask(odd.token)).choices[0]?.message.content).toBe('Counted.');
    await expect.poll(async () => (await usage(odd.id))?.requests).toBe(1);
    expect(await usage(odd.id)).toMatchObject({ inputTokens: 12, outputTokens: 3 });

    const next = await mint('after');
    openai.script(answer(100, 10));
    await ask(next.token);
    await expect.poll(async () => (await usage(next.id))?.requests).toBe(1);
    expect(await usage(next.id)).toMatchObject({ inputTokens: 100, outputTokens: 10 });
  });

  it('pays nothing back for a negative count, and bounds an absurd one', async () => {
    const negative = await mint('negative');
    openai.script(answer(-1_000_000, 5));
    await ask(negative.token);
    await expect.poll(async () => (await usage(negative.id))?.requests).toBe(1);
    const paid = await usage(negative.id);
    expect(paid?.inputTokens).toBe(0);
    expect(paid?.costMicros).toBeGreaterThanOrEqual(0);

    const absurd = await mint('absurd');
    openai.script(answer(1e300, 5));
    await ask(absurd.token);
    await expect.poll(async () => (await usage(absurd.id))?.requests).toBe(1);
    expect((await usage(absurd.id))?.inputTokens).toBe(2 ** 40);
  });
});
