import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A whole (not streamed) answer far longer than the 64 KiB at which an upstream body is paused for
 * its reader: read whole, it is served at once, relayed or translated. It used to wait for a reader
 * that was itself until the total deadline, then answer 504.
 */
const LONG_TEXT = 'The answer goes on. '.repeat(50_000);
const longAnswer: Script = {
  blocks: [{ type: 'text', text: LONG_TEXT }],
  stop: 'end',
  usage: { input: 8, output: 250_000 },
};

describe('a whole answer of a megabyte', () => {
  let openaiFake: FakeProvider;
  let claude: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    openaiFake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'oa', type: 'openai', baseUrl: openaiFake.baseUrl, keys, timeouts: { totalMs: 10_000 } },
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys, timeouts: { totalMs: 10_000 } },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await openaiFake?.close();
    await claude?.close();
  });

  it('is served whole to a client of its own format and of another', async () => {
    openaiFake.script(longAnswer);
    claude.script(longAnswer, longAnswer);
    const openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: 'Go on.' }];
    const relayed = await openai.chat.completions.create({ model: 'oa/gpt-4o', messages });
    expect(relayed.choices[0]?.message.content).toBe(LONG_TEXT);
    const translated = await openai.chat.completions.create({ model: 'claude/claude-sonnet-4-5', messages });
    expect(translated.choices[0]?.message.content).toBe(LONG_TEXT);
    const anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const message = await anthropic.messages.create({
      model: 'claude/claude-sonnet-4-5',
      max_tokens: 4_096,
      messages,
    });
    expect(message.content[0]).toMatchObject({ type: 'text', text: LONG_TEXT });
  });
});
