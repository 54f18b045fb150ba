import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A Gemini answer that names no model (no `modelVersion`) reaches a client of a translated surface
 * with the model the gateway called, not an empty name: the client asked for an alias and sees the
 * target's model, as it does when Gemini names it.
 */

const TARGET = 'gemini-2.5-flash';
const unnamed: Script = {
  model: null,
  blocks: [{ type: 'text', text: 'Hello.' }],
  stop: 'end',
  usage: { input: 3, output: 2 },
};
const messages = [{ role: 'user' as const, content: 'Hi' }];

describe('the model of a Gemini answer that names none', () => {
  let gemini: FakeProvider;
  let kw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'gem',
            type: 'gemini',
            baseUrl: gemini.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
        models: [{ name: 'fast', provider: 'gem', model: TARGET }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    gemini.script(unnamed);
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
  });

  it('is the called model in a chat completion, whole and streamed', async () => {
    const whole = await openai.chat.completions.create({ model: 'fast', messages });
    expect(whole.model).toBe(TARGET);
    const stream = await openai.chat.completions.create({ model: 'fast', messages, stream: true });
    const models = new Set<string>();
    for await (const chunk of stream) models.add(chunk.model);
    expect([...models]).toEqual([TARGET]);
  });

  it('is the called model in a response, whole and streamed', async () => {
    const whole = await openai.responses.create({ model: 'fast', input: 'Hi', store: false });
    expect(whole.model).toBe(TARGET);
    const stream = openai.responses.stream({ model: 'fast', input: 'Hi', store: false });
    expect((await stream.finalResponse()).model).toBe(TARGET);
  });

  it('is the called model in an Anthropic message, whole and streamed', async () => {
    const whole = await anthropic.messages.create({ model: 'fast', max_tokens: 100, messages });
    expect(whole.model).toBe(TARGET);
    const stream = anthropic.messages.stream({ model: 'fast', max_tokens: 100, messages });
    expect((await stream.finalMessage()).model).toBe(TARGET);
  });
});
