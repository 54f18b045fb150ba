import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;

describe('provider types', () => {
  let azure: Fake;
  let local: FakeProvider;
  let compatible: Fake;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    azure = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    local = await startFakeProvider('ollama');
    compatible = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'azure',
            type: 'azure-openai',
            baseUrl: `${azure.url}/openai`,
            apiVersion: '2024-10-21',
            deployments: { 'gpt-4o': 'prod-gpt4o' },
            keys: { env: 'AZURE_KEY' },
          },
          // A base URL written for the earlier OpenAI-compatible adapter (`/v1`) still works.
          { id: 'local', type: 'ollama', baseUrl: `${local.url}/v1` },
          {
            id: 'vllm',
            type: 'openai-compatible',
            baseUrl: `${compatible.url}/v1`,
            keys: { env: 'VLLM_KEY' },
            headers: { 'x-tenant': 'team-a' },
          },
        ],
        models: [{ name: 'smart', provider: 'azure', model: 'gpt-4o' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, AZURE_KEY: PROVIDER_KEY, VLLM_KEY: PROVIDER_KEY },
    );
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw.close();
    await Promise.all([azure.close(), local.close(), compatible.close()]);
  });

  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hi' }];

  it('azure-openai: deployment URL, api-version, api-key header, streaming included, its filter annotations left out', async () => {
    const reply = await client.chat.completions.create({ model: 'smart', messages });
    expect(reply.model).toBe('prod-gpt4o');
    // Azure's content filter annotations would name the backend: left out, as from its streams.
    expect(reply).not.toHaveProperty('prompt_filter_results');
    expect(reply.choices[0]).not.toHaveProperty('content_filter_results');
    expect(reply.choices[0]?.message.content).toBeTruthy();
    const upstream = azure.requests[0]!;
    expect(upstream.url).toBe('/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21');
    expect(upstream.headers['api-key']).toBe(PROVIDER_KEY);
    expect(upstream.headers.authorization).toBeUndefined();

    const final = await client.chat.completions
      .stream({ model: 'azure/gpt-4o-mini', messages, stream: true })
      .finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe(reply.choices[0]?.message.content);
    expect(azure.requests[1]?.url).toBe(
      '/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21',
    );

    const vectors = await client.embeddings.create({ model: 'azure/embed-small', input: 'x' });
    expect(vectors.data).toHaveLength(1);
    expect(azure.requests[2]?.url).toBe('/openai/deployments/embed-small/embeddings?api-version=2024-10-21');
  });

  it('ollama: the native /api/chat without a key; embeddings through its OpenAI-compatible endpoint', async () => {
    local.script({
      blocks: [{ type: 'text', text: 'Hello from llama' }],
      stop: 'end',
      usage: { input: 3, output: 4 },
    });
    const reply = await client.chat.completions.create({ model: 'local/llama3.2', messages });
    expect(reply.model).toBe('llama3.2');
    expect(reply.choices[0]?.message.content).toBe('Hello from llama');
    expect(reply.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4 });
    expect(local.requests[0]).toMatchObject({
      path: '/api/chat',
      body: { model: 'llama3.2', messages: [{ role: 'user', content: 'Hi' }], stream: false },
    });
    expect(local.requests[0]?.headers.authorization).toBeUndefined();

    const vectors = await client.embeddings.create({ model: 'local/nomic-embed-text', input: 'x' });
    expect(vectors.data[0]?.embedding).toEqual([0.125, -0.25, 0.5, 1]);
    expect(local.requests[1]?.path).toBe('/v1/embeddings');
  });

  it('openai-compatible: the provider key and the configured static headers', async () => {
    await client.chat.completions.create({ model: 'vllm/qwen2.5', messages });
    const headers = compatible.requests[0]!.headers;
    expect(headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(headers['x-tenant']).toBe('team-a');
  });
});
