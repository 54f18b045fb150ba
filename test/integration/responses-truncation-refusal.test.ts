import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * What a Responses request the gateway refuses is told: past the context window, what it can still
 * do; a part the provider format cannot take, the client's own path to it.
 */
let fake: FakeProvider;
let kw: TestGateway;
let client: OpenAI;
beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'oa', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
      models: [{ name: 'fast', provider: 'oa', model: 'gpt-4o-mini' }],
      conversations: { contextTokens: 1024 },
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
  client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

describe("a Responses input past the context window with truncation: 'auto'", () => {
  // About 1,500 tokens: past the window of 1,024 on its own.
  const tooLong = `${'z'.repeat(6000)}`;
  const refusedAlone = {
    status: 400,
    error: {
      param: 'input',
      message: expect.stringMatching(
        /^The input alone \(about \d+ tokens\) exceeds the context window of \d+ tokens, even with every earlier turn dropped; shorten it, or start a new conversation$/,
      ),
    },
  };

  it('is told to shorten it, not to send the truncation it sent, after history or without any', async () => {
    const first = await client.responses.create({ model: 'fast', input: 'A short first turn' });
    const calls = fake.requests.length;
    await expect(
      client.responses.create({
        model: 'fast',
        input: tooLong,
        truncation: 'auto',
        previous_response_id: first.id,
      }),
    ).rejects.toMatchObject(refusedAlone);
    await expect(
      client.responses.create({ model: 'fast', input: tooLong, truncation: 'auto' }),
    ).rejects.toMatchObject(refusedAlone);
    expect(fake.requests.length).toBe(calls);
  });

  it("still tells a request without it to send truncation: 'auto'", async () => {
    const first = await client.responses.create({ model: 'fast', input: 'x'.repeat(3000) });
    await expect(
      client.responses.create({ model: 'fast', input: 'y'.repeat(2000), previous_response_id: first.id }),
    ).rejects.toMatchObject({
      status: 400,
      error: { param: 'input', message: expect.stringContaining("send truncation: 'auto'") },
    });
  });
});

const document = (text: string) =>
  ({
    role: 'user',
    content: [
      { type: 'input_text', text },
      { type: 'input_file', file_url: 'https://example.com/report.pdf' },
    ],
  }) as const;

describe('a Responses part the provider format cannot take', () => {
  it("is named by the client's input path, not the merged canonical one", async () => {
    const calls = fake.requests.length;
    // Consecutive user items merge into one canonical turn, and a system item leaves the turns.
    for (const [input, param] of [
      [[{ role: 'user', content: 'First.' }, document('Read this.')], 'input[1].content[1]'],
      [
        [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'First.' },
          document('Read this.'),
        ],
        'input[2].content[1]',
      ],
    ] as const) {
      const items = [...input] as OpenAI.Responses.ResponseInput;
      await expect(client.responses.create({ model: 'fast', input: items })).rejects.toMatchObject({
        status: 400,
        error: { param },
      });
    }
    expect(fake.requests.length).toBe(calls);
  });
});
