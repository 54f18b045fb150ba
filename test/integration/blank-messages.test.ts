import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Anthropic refuses text of only whitespace, so translation leaves it out; a conversation of
 * nothing else would go out with no message at all, which Anthropic refuses in words about a body
 * the client never wrote. The client is told instead, naming its own field, and nothing is sent.
 */
describe('a conversation of only whitespace, for an Anthropic target', () => {
  let anthropic: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'an', type: 'anthropic', baseUrl: anthropic.baseUrl, keys: { env: 'P_KEY' } }],
        models: [{ name: 'claude', provider: 'an', model: 'claude-sonnet-4-5' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await anthropic?.close();
  });

  it('is refused on the OpenAI surface naming the message', async () => {
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const refused = await client.chat.completions
      .create({
        model: 'claude',
        max_tokens: 10,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: '   ' },
        ],
      })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      param: 'messages[1]',
    });
    expect((refused as Error).message).toContain('Anthropic needs a message with content');
    expect(anthropic.requests).toHaveLength(0);
  });

  it('is refused on the Gemini surface naming the content', async () => {
    const ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });
    const refused = await ai.models
      .generateContent({ model: 'claude', contents: [{ role: 'user', parts: [{ text: ' \n ' }] }] })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400 });
    expect((refused as Error).message).toContain('contents[0]');
    expect((refused as Error).message).toContain('Anthropic needs a message with content');
    expect(anthropic.requests).toHaveLength(0);
  });
});
