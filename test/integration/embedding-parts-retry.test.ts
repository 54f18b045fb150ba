import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import type { RecordedRequest } from '../support/fake-providers/server.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => expect.unreachable('the request should have failed'),
    (error: unknown) => error,
  );

/** Micro-dollars a token, the same at every target: a budget then reserves the same anywhere. */
const PRICE = { input: 10, output: 10 };
const OK: Script = { blocks: [], stop: 'end', usage: { input: 0, output: 0 } };
const failing = (status: number): Script => ({ ...OK, fault: { kind: 'status', status } });

/** "text 0" … "text N-1": two estimated tokens each (four ASCII characters a token, rounded up). */
const texts = (count: number) => Array.from({ length: count }, (_, i) => `text ${i}`);
/** The texts a batchEmbedContents call carried. */
const batchTexts = (sent: RecordedRequest): string[] =>
  (sent.body as { requests: Array<{ content: { parts: Array<{ text: string }> } }> }).requests.map(
    (r) => r.content.parts[0]!.text,
  );
/** Answers each part by its first input: `fault` for the part starting at `first`, else OK. */
const partFails = (first: string, fault: Script) => (sent: RecordedRequest) =>
  batchTexts(sent)[0] === first ? fault : OK;

/**
 * OpenAI takes up to 2,048 inputs in one embeddings request; Gemini's batchEmbedContents takes
 * 100. A request with more, routed to Gemini, goes in consecutive parts of 100, one after another,
 * joined into one answer in input order. The official OpenAI SDK is the client.
 */
/**
 * An embeddings request sent to Gemini in parts whose later part fails has been charged for the
 * parts answered before it: the error answer must keep the SDKs from sending it again on their own
 * (`x-should-retry: false`), or one call is billed once per SDK attempt.
 */
describe('an embeddings request in parts failing after a part was charged', () => {
  let gemini: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        providers: [
          // One attempt a part: the count below is then the SDK's rounds alone.
          {
            id: 'gemini',
            type: 'gemini',
            baseUrl: gemini.baseUrl,
            keys: { env: 'G_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
        models: [{ name: 'embed', provider: 'gemini', model: 'gemini-embedding-001' }],
        pricing: { 'gemini-embedding-001': PRICE },
      },
      { G_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
  });

  it('says x-should-retry: false, so the SDK with its default retries sends it once', async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'parts' });
    const usage = async () =>
      (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${minted.json.id}`)).json.rows[0];
    gemini.script(partFails('text 100', failing(503)));
    const sdk = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: minted.json.token });
    const before = gemini.requests.length;
    const error = await rejection(sdk.embeddings.create({ model: 'embed', input: texts(250) }));
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).headers?.get('x-should-retry')).toBe('false');
    // Part 1 answered and part 2 refused, once: no second or third round of the SDK's.
    expect(gemini.requests.length - before).toBe(2);
    await expect.poll(async () => (await usage())?.requests).toBe(1);
  });
});
