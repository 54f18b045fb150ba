import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;

describe('provider types', () => {
  let azure: Fake;
  let local: Fake;
  let compatible: Fake;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    azure = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    local = await startFakeOpenAI({ requireAuth: false });
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

  it('azure-openai: deployment URL, api-version, api-key header, streaming included', async () => {
    const reply = await client.chat.completions.create({ model: 'smart', messages });
    expect(reply.model).toBe('prod-gpt4o');
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

  it('ollama: the OpenAI-compatible API, without a key', async () => {
    const reply = await client.chat.completions.create({ model: 'local/llama3.2', messages });
    expect(reply.model).toBe('llama3.2');
    expect(local.requests[0]?.url).toBe('/v1/chat/completions');
    expect(local.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('openai-compatible: the provider key and the configured static headers', async () => {
    await client.chat.completions.create({ model: 'vllm/qwen2.5', messages });
    const headers = compatible.requests[0]!.headers;
    expect(headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    expect(headers['x-tenant']).toBe('team-a');
  });
});
