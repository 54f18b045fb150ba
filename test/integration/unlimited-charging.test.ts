import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A credential that no limit or budget holds (here the static key) reserves nothing at admission,
 * yet a stream cut before its usage is billed by the provider all the same: it is charged what
 * admission would have reserved, its input and its max_tokens, as for any other credential.
 */
describe('a cut stream of a credential without limits', () => {
  let provider: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    provider = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'oa',
            type: 'openai',
            baseUrl: provider.baseUrl,
            keys: { env: 'P_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
        models: [{ name: 'cut', provider: 'oa', model: 'cut-model' }],
        pricing: { 'cut-model': { input: 1, output: 2 } },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await provider?.close();
  });

  it('is charged its input and its max_tokens, not 0', async () => {
    // OpenAI reports a stream's usage in its last chunk only, which this stream never reaches.
    provider.script({
      blocks: [{ type: 'text', text: 'A long answer, cut before its usage arrives.' }],
      stop: 'end',
      usage: { input: 5_000, output: 900 },
      fault: { kind: 'cut', afterEvents: 3 },
    });
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const body = {
      model: 'cut',
      stream: true as const,
      max_tokens: 1000,
      messages: [{ role: 'user' as const, content: 'Tell me a story.' }],
    };
    const stream = await client.chat.completions.create(body);
    await expect(
      (async () => {
        for await (const _chunk of stream);
      })(),
    ).rejects.toThrow();
    // Admission's estimate: the body's size in tokens (four bytes each), and its max_tokens.
    const input = Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4);
    await expect
      .poll(async () => (await adminCall(kw.adminUrl, 'GET', '/admin/usage?by=model')).json.rows, {
        timeout: 5000,
      })
      .toEqual([
        expect.objectContaining({
          requests: 1,
          inputTokens: input,
          outputTokens: 1000,
          costMicros: input * 1 + 1000 * 2,
        }),
      ]);
  });
});
