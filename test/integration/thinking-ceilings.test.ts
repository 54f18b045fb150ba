import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A thinking budget is output, and a target that holds it inside its output limit (Anthropic's
 * `max_tokens`) is sent a limit the gateway makes from it when the client names none. Neither may
 * pass the ceilings that bound output (`ceilings.maxTokens`, per route, per alias, per token), nor
 * what admission reserved: a budget at a ceiling is refused naming the client's own field (or
 * lowered under `onExceed: clamp`), and a made-up `max_tokens` is at most the ceiling.
 */

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
        { name: 'reasoner', provider: 'oa', model: 'o3' },
        { name: 'claude', provider: 'an', model: 'claude-sonnet-4-5' },
        {
          name: 'short-claude',
          provider: 'an',
          model: 'claude-sonnet-4-5',
          params: { maxTokens: { max: 8000 } },
        },
      ],
      ...extra,
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
  return kw;
}

const gemini = (gateway: TestGateway, apiKey = CLIENT_KEY) =>
  new GoogleGenAI({ apiKey, httpOptions: { baseUrl: gateway.dataUrl } });

/** What the Anthropic fake was sent last: its output limit and thinking budget. */
function lastSent(): { max_tokens?: number; thinking?: { budget_tokens?: number } } {
  return anthropic!.requests.at(-1)!.body as { max_tokens?: number; thinking?: { budget_tokens?: number } };
}

/** A token with a tokens-per-minute limit: its rate-limit headers tell what admission reserved. */
async function metered(gateway: TestGateway): Promise<string> {
  const minted = await adminCall(gateway.adminUrl, 'POST', '/admin/tokens', {
    name: 'metered',
    limits: { tpm: 10_000_000 },
  });
  expect(minted.status).toBe(201);
  return minted.json.token;
}

describe('thinking budgets under the output ceilings', () => {
  it('refuses a Gemini thinkingBudget at or above the ceiling, naming it, before anything goes upstream', async () => {
    const gateway = await start();
    const refused = await gemini(gateway)
      .models.generateContent({
        model: 'claude',
        contents: 'hi',
        config: { thinkingConfig: { thinkingBudget: 1_000_000 } },
      })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400 });
    expect((refused as Error).message).toContain(
      "generationConfig.thinkingConfig.thinkingBudget 1000000 is not below the gateway's ceiling of 65536 output tokens",
    );
    expect(anthropic!.requests).toHaveLength(0);
  });

  it('refuses an Anthropic budget_tokens at or above the ceiling on its way to another format', async () => {
    const gateway = await start({ ceilings: { maxTokens: 16_000 } });
    const client = new Anthropic({ baseURL: gateway.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const refused = await client.messages
      .create({
        model: 'reasoner',
        max_tokens: 2000,
        thinking: { type: 'enabled', budget_tokens: 16_000 },
        messages: [{ role: 'user', content: 'hi' }],
      })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as Error).message).toContain(
      "thinking.budget_tokens 16000 is not below the gateway's ceiling of 16000 output tokens",
    );
    expect(openai!.requests).toHaveLength(0);
  });

  it('lowers the budget below the ceiling where the ceiling clamps, and says so', async () => {
    const gateway = await start({ ceilings: { onExceed: 'clamp' } });
    const answer = await gemini(gateway).models.generateContent({
      model: 'claude',
      contents: 'hi',
      config: { thinkingConfig: { thinkingBudget: 1_000_000 } },
    });
    expect(answer.sdkHttpResponse?.headers?.['x-keyward-clamped']).toBe(
      'generationConfig.thinkingConfig.thinkingBudget=65535',
    );
    expect(lastSent()).toMatchObject({ max_tokens: 65_536, thinking: { budget_tokens: 65_535 } });
  });
});

describe('the max_tokens the gateway makes for an Anthropic target', () => {
  it('is at most the ceiling for a budget near it, and admission reserves what is sent', async () => {
    const gateway = await start();
    const token = await metered(gateway);
    const answer = await gemini(gateway, token).models.generateContent({
      model: 'claude',
      contents: 'hi',
      config: { thinkingConfig: { thinkingBudget: 64_000 } },
    });
    // The budget stays as asked; the room for the answer beside it is what gives way.
    expect(lastSent()).toMatchObject({ max_tokens: 65_536, thinking: { budget_tokens: 64_000 } });
    const remaining = Number(answer.sdkHttpResponse?.headers?.['x-ratelimit-remaining-tokens']);
    expect(10_000_000 - remaining).toBeGreaterThanOrEqual(65_536);
    expect(10_000_000 - remaining).toBeLessThan(65_536 + 1000);
  });

  it("is at most an alias's ceiling for an effort's budget, the budget fitted below it", async () => {
    const gateway = await start();
    const token = await metered(gateway);
    const client = new OpenAI({ baseURL: `${gateway.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
    const body = {
      model: 'short-claude',
      reasoning_effort: 'high' as const,
      messages: [{ role: 'user' as const, content: 'hi' }],
    };
    const { response } = await client.chat.completions.create(body).withResponse();
    expect(lastSent()).toMatchObject({ max_tokens: 8000, thinking: { budget_tokens: 7999 } });
    const reserved = 10_000_000 - Number(response.headers.get('x-ratelimit-remaining-tokens'));
    expect(reserved).toBe(Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4) + 8000);
  });

  it('is at most a route ceiling below its 4,096 default, without thinking', async () => {
    const gateway = await start({ ceilings: { routes: { '/v1/chat/completions': { maxTokens: 2000 } } } });
    const client = new OpenAI({ baseURL: `${gateway.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    await client.chat.completions.create({ model: 'claude', messages: [{ role: 'user', content: 'hi' }] });
    expect(lastSent().max_tokens).toBe(2000);
  });
});
