import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

const PIXEL =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

/**
 * Models count an inline image their own way (gpt-4o-mini 48,169 tokens, Claude at most 4,784), so
 * a request's reservation differs by target. A request whose answer brought no usage is charged
 * its reservation: it was charged the dearest target's count priced at the model that served it,
 * ten times too little at gpt-4o-mini behind a dear Claude, ten times too much the other way.
 */
describe('a request with inline images, answered without usage by a fallback', () => {
  let claude: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    [claude, openai] = await Promise.all([
      startFakeProvider('anthropic', { keys: [PROVIDER_KEY] }),
      startFakeProvider('openai', { keys: [PROVIDER_KEY] }),
    ]);
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys, retries: { maxAttempts: 1 } },
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys, retries: { maxAttempts: 1 } },
        ],
        models: [
          // Dearest at Claude (4,784 a picture at $3 a million), served by gpt-4o-mini.
          {
            name: 'under',
            provider: 'claude',
            model: 'claude-dear',
            fallbacks: [{ provider: 'openai', model: 'gpt-4o-mini' }],
          },
          // Dearest at gpt-4o-mini (48,169 a picture at $0.15), served by Claude at $1.
          {
            name: 'over',
            provider: 'openai',
            model: 'gpt-4o-mini',
            fallbacks: [{ provider: 'claude', model: 'claude-cheap' }],
          },
        ],
        pricing: {
          'claude-dear': { input: 3, output: 15 },
          'claude-cheap': { input: 1, output: 5 },
          'gpt-4o-mini': { input: 0.15, output: 0.6 },
        },
      },
      { PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
    await openai?.close();
  });

  const spentUsd = async (token: string): Promise<number> => {
    const res = await fetch(`${kw.dataUrl}/v1/rate-limit-status`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return ((await res.json()) as { budgets: { spentUsd: number }[] }).budgets[0]!.spentUsd;
  };

  it.each([
    // Two pictures at gpt-4o-mini: about 96,400 tokens at $0.15 a million.
    ['under', 0.0144, 0.0148],
    // Two pictures at Claude: about 9,600 tokens at $1 a million.
    ['over', 0.0095, 0.0099],
  ])('is charged as the model that served it counts it (%s)', async (alias, low, high) => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `images-${alias}`,
      budget: { usd: 10, period: 'day' },
    });
    const token = (minted.json as { token: string }).token;
    const [first, second] = alias === 'under' ? [claude, openai] : [openai, claude];
    first.script({
      blocks: [],
      stop: 'end',
      usage: { input: 0, output: 0 },
      fault: { kind: 'status', status: 500 },
    });
    // OpenAI's stream cut before its usage chunk; Claude's connection dropped unanswered (its
    // message_start would report input tokens, which are kept).
    second.script({
      blocks: [{ type: 'text', text: 'A pixel, twice.' }],
      stop: 'end',
      usage: { input: 0, output: 0 },
      fault: alias === 'under' ? { kind: 'cut', afterEvents: 2 } : { kind: 'reset' },
    });
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
    const image = { type: 'image_url' as const, image_url: { url: `data:image/png;base64,${PIXEL}` } };
    await (async () => {
      const stream = await client.chat.completions.create({
        model: alias,
        stream: true,
        max_tokens: 10,
        messages: [{ role: 'user', content: [image, image, { type: 'text', text: 'hi' }] }],
      });
      for await (const _ of stream);
    })().catch(() => undefined);
    await expect.poll(() => spentUsd(token)).toBeGreaterThan(0);
    const spent = await spentUsd(token);
    expect(spent).toBeGreaterThan(low);
    expect(spent).toBeLessThan(high);
  });
});
