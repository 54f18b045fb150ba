import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/** 1,000 input tokens: 200 read from the cache, 400 written to it (100 of them for an hour). */
const cachedTurn: Script = {
  blocks: [{ type: 'text', text: 'Noted.' }],
  stop: 'end',
  usage: { input: 1_000, output: 50, cached: 200, cacheWrite: 400, cacheWrite1h: 100 },
};
/**
 * At claude-sonnet-4's list prices, in micro-dollars: 400 plain × 3, 200 reads × 0.30, 300
 * five-minute writes × 3.75, 100 one-hour writes × 6, 50 output × 15.
 */
const COST = 400 * 3 + 200 * 0.3 + 300 * 3.75 + 100 * 6 + 50 * 15;

describe('prompt-cache writes are charged at their own price', () => {
  let claude: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    claude.script(cachedTurn);
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'PROVIDER_KEY' } },
        ],
        models: [{ name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
  });

  it('on Messages, streamed and not, and translated to Chat Completions', async () => {
    const anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'Remember this.' }];
    const message = await anthropic.messages.create({ model: 'sonnet', max_tokens: 100, messages });
    expect(message.usage).toMatchObject({ cache_creation_input_tokens: 400, cache_read_input_tokens: 200 });
    const stream = anthropic.messages.stream({ model: 'sonnet', max_tokens: 100, messages });
    expect((await stream.finalMessage()).usage.cache_creation_input_tokens).toBe(400);
    const openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const completion = await openai.chat.completions.create({
      model: 'sonnet',
      messages: [{ role: 'user', content: 'Remember this.' }],
    });
    expect(completion.usage?.prompt_tokens).toBe(1_000);

    await expect
      .poll(async () => (await adminCall(kw.adminUrl, 'GET', '/admin/usage?by=model')).json.rows)
      .toEqual([
        expect.objectContaining({ requests: 3, inputTokens: 3_000, costMicros: Math.round(3 * COST) }),
      ]);
  });
});
