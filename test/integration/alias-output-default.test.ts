import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * An alias's default output limit (`params.maxTokens.default`) fills what its client left out. It
 * is the operator's preference, not the client's ask: held to the gateway's ceilings like any
 * limit, it is lowered to them rather than refused, and a refusal it causes says so.
 */

type Json = Record<string, unknown>;

let gpt: FakeProvider;
let claude: FakeProvider;
let kw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gpt = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      ceilings: { maxTokens: 2000, onExceed: 'reject' },
      providers: [
        { id: 'openai', type: 'openai', baseUrl: gpt.baseUrl, keys: { env: 'PROVIDER_KEY' } },
        { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'PROVIDER_KEY' } },
      ],
      models: [
        { name: 'roomy', provider: 'openai', model: 'gpt-4o', params: { maxTokens: { default: 8000 } } },
        {
          name: 'terse',
          provider: 'claude',
          model: 'claude-sonnet-4-5',
          params: { maxTokens: { default: 1000 } },
        },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
  client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await gpt?.close();
  await claude?.close();
});

const messages = [{ role: 'user' as const, content: 'hi' }];

describe("an alias's default output limit", () => {
  it("is lowered to the gateway's ceiling, which it never goes past, and the client is not refused", async () => {
    const answer = await client.chat.completions.create({ model: 'roomy', messages });
    expect(answer.choices[0]?.message.content).toBeTruthy();
    expect(gpt.requests.at(-1)!.body as Json).toMatchObject({ max_completion_tokens: 2000 });
    // The client's own ask is still refused above the ceiling, named as it sent it.
    const error = await client.chat.completions
      .create({ model: 'roomy', messages, max_completion_tokens: 3000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.APIError>).param).toBe('max_completion_tokens');
  });

  it('is named as the cause when a target cannot take it, with the field that overrides it', async () => {
    const before = claude.requests.length;
    const error = await client.chat.completions
      .create({ model: 'terse', messages, reasoning_effort: 'low' })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const refusal = error as InstanceType<typeof OpenAI.APIError>;
    expect(refusal.param).toBe('max_completion_tokens');
    expect(refusal.message).toMatch(/above 1024 tokens for thinking/);
    expect(refusal.message).toContain(
      "this request names no output limit and was given 1000 tokens, the default of the model 'terse' (params.maxTokens.default): name one in max_completion_tokens",
    );
    expect(claude.requests.length).toBe(before);
    // Named by the client, the same limit is the client's own.
    const own = await client.chat.completions
      .create({ model: 'terse', messages, reasoning_effort: 'low', max_completion_tokens: 1000 })
      .then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
      );
    expect(own?.message).not.toContain('default');
  });
});
