import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * What a request that names no output limit reserves and is charged on a route whose first target
 * fills in none (OpenAI) and whose fallback fills one in (Anthropic's 4,096 max_tokens): the
 * reservation is the first target's, and the fallback's fill is the floor only once it is tried.
 */

const ANSWER: Script = {
  blocks: [{ type: 'text', text: 'A fairly long answer, streamed in small pieces.' }],
  stop: 'end',
  usage: { input: 5_000, output: 250 },
};

const TPM = 1_000_000;
const ANTHROPIC_FILL = 4096;

describe('charging a route with a fallback that fills in max_tokens', () => {
  let claude: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  let minted = 0;

  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys, retries: { maxAttempts: 1 } },
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys },
        ],
        models: [
          {
            name: 'mixed',
            provider: 'openai',
            model: 'gpt-4o-mini',
            fallbacks: [{ provider: 'claude', model: 'claude-sonnet-4-5' }],
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
    await openai?.close();
  });

  async function budgeted(): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `fallback-charged-${++minted}`,
      budget: { usd: 100, period: 'day' },
      limits: { tpm: TPM },
    });
    expect(res.status).toBe(201);
    return res.json;
  }

  async function usageOf(
    tokenId: string,
  ): Promise<{ inputTokens: number; outputTokens: number } | undefined> {
    const res = await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`);
    return res.json.rows[0];
  }
  const outputTokensOf = async (tokenId: string) => (await usageOf(tokenId))?.outputTokens;

  function chat(token: string, body: Record<string, unknown>) {
    return request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  const body = { model: 'mixed', messages: [{ role: 'user', content: 'Tell me a story.' }] };

  it('reserves less than the fallback fills in when the first target fills in nothing', async () => {
    const token = await budgeted();
    openai.script(ANSWER);
    const res = await chat(token.token, body);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const reserved = TPM - Number(res.headers['x-ratelimit-remaining-tokens']);
    expect(reserved).toBeLessThan(ANTHROPIC_FILL);
  });

  it('charges a stream cut on the fallback at least the max_tokens the fallback was sent', async () => {
    const token = await budgeted();
    openai.script({ ...ANSWER, fault: { kind: 'status', status: 500 } });
    claude.script({ ...ANSWER, fault: { kind: 'cut', afterEvents: 3 } });
    const res = await chat(token.token, { ...body, stream: true });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const sent = Number((claude.requests.at(-1)?.body as { max_tokens?: number } | undefined)?.max_tokens);
    expect(sent).toBeGreaterThanOrEqual(ANTHROPIC_FILL);
    await expect.poll(() => outputTokensOf(token.id), { timeout: 5000 }).toBeGreaterThanOrEqual(sent);
  });

  it('charges an attempt that went out and got no answer even when a fallback answers', async () => {
    const token = await budgeted();
    // The first provider takes the request and drops the connection: whether it read it (and
    // bills it) cannot be told, so it is charged its reservation besides the answer's usage.
    openai.script({ ...ANSWER, fault: { kind: 'reset' } });
    claude.script(ANSWER);
    const received = openai.requests.length;
    const res = await chat(token.token, body);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(openai.requests.length).toBe(received + 1);
    const estimatedInput = Math.ceil(Buffer.byteLength(JSON.stringify(body)) / 4);
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({
        inputTokens: 5_000 + estimatedInput,
        outputTokens: expect.any(Number),
      });
    expect((await outputTokensOf(token.id))!).toBeGreaterThan(250);
  });
});
