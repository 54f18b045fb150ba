import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * An Anthropic stream relayed to a Messages client that fails right after `message_start`,
 * before anything reached the client: the attempt is charged as one that got no answer (its
 * reservation), not also the counts its `message_start` reported, which are the failed attempt's.
 */
const OVERLOADED_AFTER_START: Script = {
  blocks: [{ type: 'text', text: 'Never shown.' }],
  stop: 'end',
  usage: { input: 1_000, output: 1, cached: 600, cacheWrite: 300 },
  fault: { kind: 'error_event', afterEvents: 1, status: 529 },
};

describe('a same-format stream that fails before its first event reached the client', () => {
  let claude: FakeProvider;
  let kw: TestGateway;
  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'claude',
            type: 'anthropic',
            baseUrl: claude.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            // One attempt, so that the record is this attempt's alone.
            retries: { maxAttempts: 1 },
          },
        ],
        models: [{ name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' }],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
  });

  it('is charged its reservation, not the counts of the message_start it never showed', async () => {
    claude.script(OVERLOADED_AFTER_START);
    const anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const stream = anthropic.messages.stream({
      model: 'sonnet',
      max_tokens: 500,
      messages: [{ role: 'user', content: 'Hello' }],
    });
    await expect(stream.finalMessage()).rejects.toMatchObject({ status: 503 });

    await expect
      .poll(async () => (await adminCall(kw.adminUrl, 'GET', '/admin/usage?by=model')).json.rows)
      .toEqual([expect.objectContaining({ requests: 1, outputTokens: 500 })]);
    const [row] = (await adminCall(kw.adminUrl, 'GET', '/admin/usage?by=model')).json.rows as Array<
      Record<string, number>
    >;
    // The reservation's input: the body's size, far from the 1,000 (600 of them cached) reported.
    expect(row!.inputTokens).toBeLessThan(100);
    expect(row!.cachedTokens ?? 0).toBe(0);
  });
});
