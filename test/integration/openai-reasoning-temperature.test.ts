import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/index.js';
import { createAzureOpenAIAdapter } from '../../src/providers/azure-openai/index.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * OpenAI's reasoning models (the o-series, gpt-5 on) refuse a temperature other than 1 with a
 * 400, as the fake does. An alias's default temperature is a preference its client never sent:
 * such a target is sent none, in the client's body and in a translated one alike, while a
 * client's own temperature goes as asked and is refused by the provider.
 */

type Json = Record<string, unknown>;

let fake: FakeProvider;
let kw: TestGateway;
let openai: OpenAI;

const alias = (name: string, model: string) => ({
  name,
  provider: 'openai',
  model,
  params: { temperature: { default: 0.3 } },
});

beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'openai',
          type: 'openai',
          baseUrl: fake.baseUrl,
          keys: { env: 'PROVIDER_KEY' },
          retries: { maxAttempts: 1 },
        },
      ],
      models: [
        alias('o3-warm', 'o3'),
        alias('o4-warm', 'o4-mini'),
        alias('gpt5-warm', 'gpt-5-mini'),
        alias('gpt51-warm', 'gpt-5.1'),
        alias('chat-warm', 'gpt-5-chat-latest'),
        alias('4o-warm', 'gpt-4o'),
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
  openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

const last = (): Json => fake.requests.at(-1)!.body as Json;
const messages = [{ role: 'user' as const, content: 'hi' }];

describe("an alias's default temperature on an OpenAI reasoning model", () => {
  it('is left out of a Chat Completions body, which goes as the client sent it otherwise', async () => {
    for (const model of ['o3-warm', 'o4-warm', 'gpt5-warm']) {
      const answer = await openai.chat.completions.create({ model, messages });
      expect(answer.choices[0]?.message.content).toBeTruthy();
      expect(last()).not.toHaveProperty('temperature');
    }
  });

  it('is left out of a translated request: Anthropic and Responses clients', async () => {
    const anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    await anthropic.messages.create({ model: 'o3-warm', max_tokens: 100, messages });
    expect(last()).toMatchObject({ model: 'o3' });
    expect(last()).not.toHaveProperty('temperature');
    await openai.responses.create({ model: 'gpt5-warm', input: 'hi', store: false });
    expect(last()).toMatchObject({ model: 'gpt-5-mini' });
    expect(last()).not.toHaveProperty('temperature');
  });

  it('still goes to the models that take it', async () => {
    await openai.chat.completions.create({ model: '4o-warm', messages });
    expect(last()).toMatchObject({ temperature: 0.3 });
    await openai.chat.completions.create({ model: 'chat-warm', messages });
    expect(last()).toMatchObject({ temperature: 0.3 });
    // gpt-5.1 takes a temperature while it does not reason, which its client says by name.
    await openai.chat.completions.create({ model: 'gpt51-warm', messages, reasoning_effort: 'none' });
    expect(last()).toMatchObject({ temperature: 0.3, reasoning_effort: 'none' });
    await openai.chat.completions.create({ model: 'gpt51-warm', messages, reasoning_effort: 'low' });
    expect(last()).not.toHaveProperty('temperature');
  });

  it("leaves a client's own temperature alone: the provider's refusal is the answer", async () => {
    const error = await openai.chat.completions.create({ model: 'o3-warm', messages, temperature: 0.5 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).param).toBe('temperature');
    expect(last()).toMatchObject({ temperature: 0.5 });
    await openai.chat.completions.create({ model: 'o3-warm', messages, temperature: 1 });
    expect(last()).toMatchObject({ temperature: 1 });
  });
});

describe('Azure OpenAI, whose deployments are named after the models', () => {
  const config = configSchema.parse({
    providers: [
      {
        id: 'azure',
        type: 'azure-openai',
        baseUrl: 'https://example.openai.azure.com/openai',
        apiVersion: '2024-10-21',
        keys: { env: 'AZURE_KEY' },
        deployments: { 'o4-mini': 'reasoner' },
      },
    ],
  }).providers[0]!;
  const adapter = createAzureOpenAIAdapter(config);
  const body = { model: 'x', messages, temperature: 0.3 };
  const sent = (call: { body: string }): Json => JSON.parse(call.body) as Json;

  it("is sent no default temperature a reasoning model refuses, and a client's own as asked", () => {
    const defaulted = adapter.buildCall('chat', 'o4-mini', body, undefined, { temperatureIsDefault: true });
    expect(sent(defaulted)).not.toHaveProperty('temperature');
    expect(sent(adapter.buildCall('chat', 'o4-mini', body, undefined))).toMatchObject({ temperature: 0.3 });
    const translated = adapter.buildChatCall(
      {
        model: 'o4-mini',
        system: [],
        messages: [],
        stream: false,
        temperature: 0.3,
        temperatureIsDefault: true,
      },
      undefined,
    );
    expect(translated.path).toContain('/deployments/reasoner/');
    expect(sent(translated)).not.toHaveProperty('temperature');
    const other = adapter.buildCall('chat', 'gpt-4o', body, undefined, { temperatureIsDefault: true });
    expect(sent(other)).toMatchObject({ temperature: 0.3 });
  });
});
