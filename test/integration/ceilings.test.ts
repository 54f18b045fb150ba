import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

let openai: FakeProvider | undefined;
let anthropic: FakeProvider | undefined;
let kw: TestGateway | undefined;
afterEach(async () => {
  await kw?.close();
  await openai?.close();
  await anthropic?.close();
  kw = openai = anthropic = undefined;
});

async function start(extra: Partial<ConfigInput> = {}): Promise<TestGateway> {
  openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  anthropic = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
  const keyed = { keys: { env: 'P_KEY' }, retries: { maxAttempts: 1 } };
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        { id: 'oa', type: 'openai', baseUrl: openai.baseUrl, ...keyed },
        { id: 'an', type: 'anthropic', baseUrl: anthropic.baseUrl, ...keyed },
      ],
      models: [
        { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
        { name: 'claude', provider: 'an', model: 'claude-3-5-haiku-20241022' },
      ],
      ...extra,
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
  );
  return kw;
}

const messages = [{ role: 'user' as const, content: 'hi' }];

describe('parameter ceilings through the gateway, with a static key', () => {
  it('refuses max_tokens 1e9 and n 128 on the OpenAI surface before anything goes upstream', async () => {
    const gateway = await start();
    const client = new OpenAI({ baseURL: `${gateway.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const huge = await client.chat.completions
      .create({ model: 'fast', messages, max_tokens: 1_000_000_000 })
      .catch((e: unknown) => e);
    expect(huge).toBeInstanceOf(OpenAI.BadRequestError);
    expect(huge).toMatchObject({ status: 400, code: 'max_tokens_exceeded', param: 'max_tokens' });
    expect((huge as Error).message).toContain(
      "max_tokens 1000000000 is above the gateway's ceiling of 65536; ask for at most 65536",
    );
    const many = await client.chat.completions
      .create({ model: 'fast', messages, n: 128 })
      .catch((e: unknown) => e);
    expect(many).toMatchObject({ status: 400, code: 'n_exceeded', param: 'n' });
    const completion = await client.chat.completions.create({
      model: 'fast',
      messages,
      max_completion_tokens: 4096,
      n: 2,
    });
    expect(completion.choices.length).toBeGreaterThan(0);
    expect(openai!.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('refuses on the Anthropic surface in its own envelope, and the same request translated elsewhere', async () => {
    const gateway = await start();
    const client = new Anthropic({ baseURL: gateway.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    for (const model of ['claude', 'fast']) {
      const refused = await client.messages
        // An explicit timeout: the SDK itself refuses such a request otherwise, as too long to wait for.
        .create({ model, max_tokens: 1_000_000_000, messages }, { timeout: 10_000 })
        .catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
      expect((refused as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({
        type: 'error',
        error: { type: 'invalid_request_error' },
      });
      expect((refused as Error).message).toContain(
        "max_tokens 1000000000 is above the gateway's ceiling of 65536",
      );
    }
    expect(anthropic!.requests).toHaveLength(0);
    expect(openai!.requests).toHaveLength(0);
  });

  it('clamps when configured, per route and per alias, and says so in x-keyward-clamped', async () => {
    const gateway = await start({
      ceilings: { onExceed: 'clamp', routes: { '/v1/chat/completions': { maxTokens: 8192, n: 2 } } },
      models: [
        { name: 'fast', provider: 'oa', model: 'gpt-4o-mini' },
        {
          name: 'tight',
          provider: 'oa',
          model: 'gpt-4o-mini',
          params: { maxTokens: { max: 1000 }, n: { max: 1 } },
        },
      ],
    });
    const client = new OpenAI({ baseURL: `${gateway.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const { response } = await client.chat.completions
      .create({ model: 'fast', messages, max_tokens: 1_000_000_000, n: 128 })
      .withResponse();
    expect(response.headers.get('x-keyward-clamped')).toBe('max_tokens=8192, n=2');
    expect(openai!.requests.at(-1)!.body).toMatchObject({ max_tokens: 8192, n: 2 });
    await client.chat.completions.create({ model: 'tight', messages, max_completion_tokens: 5000, n: 2 });
    expect(openai!.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 1000, n: 1 });
  });
});
