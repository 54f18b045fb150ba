import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import type { RecordedRequest } from '../support/fake-providers/server.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { shareOf } from '../support/input-share.js';
import { PROVIDER_KEY } from '../support/setup.js';

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => expect.unreachable('the request should have failed'),
    (error: unknown) => error,
  );

const BAD_KEY = 'AIza-not-a-key-of-this-account-000000';
/** Micro-dollars a token, the same at every target: a budget then reserves the same anywhere. */
const PRICE = { input: 10, output: 10 };
const OK: Script = { blocks: [], stop: 'end', usage: { input: 0, output: 0 } };
const failing = (status: number): Script => ({ ...OK, fault: { kind: 'status', status } });
const HANG: Script = { ...OK, fault: { kind: 'hang' } };

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
describe('an OpenAI embeddings request of more inputs than Gemini takes at once', () => {
  let gemini: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  let token: string;
  let tokenId: string;
  let client: OpenAI;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const geminiProvider = (id: string, keys: string, maxAttempts: number) => ({
      id,
      type: 'gemini' as const,
      baseUrl: gemini.baseUrl,
      keys: { env: keys },
      retries: { maxAttempts, baseDelayMs: 5, maxDelayMs: 20 },
    });
    kw = await startTestGateway(
      {
        providers: [
          geminiProvider('gemini', 'G_KEY', 1),
          geminiProvider('gemini-retries', 'G_KEY', 2),
          geminiProvider('gemini-keys', 'G_KEYS', 1),
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'O_KEY' } },
        ],
        models: [
          {
            name: 'embed',
            provider: 'gemini',
            model: 'gemini-embedding-001',
            fallbacks: [{ provider: 'openai', model: 'text-embedding-3-small' }],
          },
          { name: 'embed-deadline', provider: 'gemini', model: 'gemini-embedding-001', timeoutMs: 1000 },
        ],
        pricing: { 'gemini-embedding-001': PRICE, 'text-embedding-3-small': PRICE },
      },
      {
        G_KEY: PROVIDER_KEY,
        G_KEYS: `${BAD_KEY},${PROVIDER_KEY}`,
        O_KEY: PROVIDER_KEY,
        KEYWARD_ADMIN_KEY: ADMIN_KEY,
      },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
    await openai?.close();
  });
  // Each test has a token of its own, whose usage is the test's alone.
  beforeEach(async () => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'parts' });
    token = minted.json.token;
    tokenId = minted.json.id;
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
    gemini.script(OK);
    openai.script(OK);
  });

  /**
   * What a request of `input` to `model` reserves under no budget, charged (its share of it for a
   * part) for an attempt out and unanswered: the SDK's body (base64 by default) at four bytes a token.
   */
  const reserved = (model: string, input: string[]) =>
    Math.ceil(Buffer.byteLength(JSON.stringify({ model, input, encoding_format: 'base64' })) / 4);
  const usage = async (id = tokenId) =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`)).json.rows[0];
  const sentSince = (before: number) => gemini.requests.slice(before);

  it("the Gemini fake refuses more than 100 requests in one batch, in Gemini's words", async () => {
    const res = await request(`${gemini.baseUrl}/models/gemini-embedding-001:batchEmbedContents`, {
      method: 'POST',
      headers: { 'x-goog-api-key': PROVIDER_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({
        requests: texts(101).map((text) => ({ content: { parts: [{ text }] } })),
      }),
    });
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { error: { message: string } }).error.message).toContain(
      'at most 100 requests can be in one batch',
    );
  });

  it('sends 250 inputs as parts of 100, 100 and 50 and answers every vector in order, usage summed', async () => {
    const before = gemini.requests.length;
    const input = texts(250);
    // The SDK's default: base64, decoded by the SDK.
    const embedded = await client.embeddings.create({ model: 'embed', input });
    expect(embedded.data).toHaveLength(250);
    for (const [i, item] of embedded.data.entries()) {
      expect(item.index).toBe(i);
      // The fake's vector ends with its text's length / 1024: each vector is its own input's.
      expect(item.embedding).toEqual([0.125, -0.25, 0.5, input[i]!.length / 1024]);
    }
    expect(embedded.usage).toEqual({ prompt_tokens: 500, total_tokens: 500 });
    const sent = sentSince(before);
    expect(sent.map((s) => s.path)).toEqual(
      Array(3).fill('/v1beta/models/gemini-embedding-001:batchEmbedContents'),
    );
    expect(sent.map(batchTexts)).toEqual([input.slice(0, 100), input.slice(100, 200), input.slice(200)]);
    await expect.poll(async () => (await usage())?.requests).toBe(1);
    expect(await usage()).toMatchObject({ inputTokens: 500, costMicros: 500 * PRICE.input });
  });

  it('keeps dimensions and float in every part; a last part of one input is still a batch', async () => {
    const before = gemini.requests.length;
    const embedded = await client.embeddings.create({
      model: 'embed',
      input: texts(101),
      dimensions: 2,
      encoding_format: 'float',
    });
    expect(embedded.data.map((item) => item.index)).toEqual([...Array(101).keys()]);
    expect(embedded.data.every((item) => item.embedding.length === 2)).toBe(true);
    const sent = sentSince(before);
    expect(sent.map((s) => s.path.split(':')[1])).toEqual(['batchEmbedContents', 'batchEmbedContents']);
    expect((sent[1]!.body as { requests: unknown[] }).requests).toEqual([
      {
        model: 'models/gemini-embedding-001',
        content: { parts: [{ text: 'text 100' }] },
        outputDimensionality: 2,
      },
    ]);
  });

  it('a failing middle part fails the request: no partial list, no later part, no fallback, the answered part charged', async () => {
    const before = gemini.requests.length;
    const fallbackBefore = openai.requests.length;
    gemini.script(partFails('text 100', failing(503)));
    const error = await rejection(client.embeddings.create({ model: 'embed', input: texts(250) }));
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect(sentSince(before).map((s) => batchTexts(s)[0])).toEqual(['text 0', 'text 100']);
    // Another model's vectors cannot be joined with Gemini's, and the whole input sent again would
    // bill the answered part twice.
    expect(openai.requests.length).toBe(fallbackBefore);
    // Gemini billed the first part (its estimate: 100 inputs of two tokens); the refused one, nothing.
    await expect.poll(async () => (await usage())?.requests).toBe(1);
    expect(await usage()).toMatchObject({ inputTokens: 200, costMicros: 200 * PRICE.input });
  });

  it("a failing first part goes to the route's fallback, which gets the whole request", async () => {
    const before = gemini.requests.length;
    const fallbackBefore = openai.requests.length;
    gemini.script(failing(503));
    const embedded = await client.embeddings.create({ model: 'embed', input: texts(250) });
    expect(embedded.data).toHaveLength(250);
    expect(sentSince(before)).toHaveLength(1);
    const sent = openai.requests.slice(fallbackBefore);
    expect(sent).toHaveLength(1);
    expect((sent[0]!.body as { input: string[] }).input).toEqual(texts(250));
  });

  it('a retried part is sent again alone: the parts before it are not', async () => {
    const retried = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
    const before = gemini.requests.length;
    gemini.script(OK, failing(503), OK);
    const embedded = await retried.embeddings.create({
      model: 'gemini-retries/gemini-embedding-001',
      input: texts(250),
    });
    expect(embedded.data.map((item) => item.index)).toEqual([...Array(250).keys()]);
    expect(sentSince(before).map((s) => batchTexts(s)[0])).toEqual([
      'text 0',
      'text 100',
      'text 100',
      'text 200',
    ]);
  });

  it('a part refused for its key goes again with the next key; no part is answered twice', async () => {
    const before = gemini.requests.length;
    const embedded = await client.embeddings.create({
      model: 'gemini-keys/gemini-embedding-001',
      input: texts(250),
    });
    expect(embedded.data).toHaveLength(250);
    const answered = sentSince(before).filter((s) => s.headers['x-goog-api-key'] === PROVIDER_KEY);
    expect(answered.map((s) => batchTexts(s)[0])).toEqual(['text 0', 'text 100', 'text 200']);
  });

  it("the route's deadline covers every part: a part that never answers ends the request at it", async () => {
    const before = gemini.requests.length;
    gemini.script(partFails('text 100', HANG));
    const started = Date.now();
    const error = await rejection(client.embeddings.create({ model: 'embed-deadline', input: texts(250) }));
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(sentSince(before).map((s) => batchTexts(s)[0])).toEqual(['text 0', 'text 100']);
    // The part that never answered went out, so the provider may bill it: charged its share of
    // the reservation.
    await expect.poll(async () => (await usage())?.requests).toBe(1);
    const part = shareOf(reserved('embed-deadline', texts(250)), texts(250), 100, 200);
    expect((await usage()).inputTokens).toBe(200 + part);
  });

  it('a client that leaves ends the request: no later part is sent', async () => {
    const before = gemini.requests.length;
    gemini.script(partFails('text 100', HANG));
    const leaving = new AbortController();
    const pending = rejection(
      client.embeddings.create({ model: 'embed', input: texts(250) }, { signal: leaving.signal }),
    );
    await expect.poll(() => sentSince(before).length).toBe(2);
    leaving.abort();
    expect(await pending).toBeInstanceOf(OpenAI.APIUserAbortError);
    await expect.poll(async () => (await usage())?.requests).toBe(1);
    expect(sentSince(before)).toHaveLength(2);
    // The first part's usage, and the part the provider had when the client left: its share of
    // the reservation.
    expect((await usage()).inputTokens).toBe(
      200 + shareOf(reserved('embed', texts(250)), texts(250), 100, 200),
    );
  });

  describe('under a budget', () => {
    const input = texts(250);
    // What the SDK sends (encoding_format named, so that it adds none of its own), reserved at a
    // token a byte: the whole request, every part, before the first is sent.
    const reservation =
      Buffer.byteLength(JSON.stringify({ model: 'embed', input, encoding_format: 'float' })) * PRICE.input;
    const budgeted = async (micros: number) => {
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'budgeted parts',
        budget: { usd: micros / 1e6, period: 'day' },
      });
      return {
        id: minted.json.id as string,
        client: new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: minted.json.token, maxRetries: 0 }),
      };
    };

    it('a budget just too small for the whole request refuses it before any part is sent', async () => {
      const before = gemini.requests.length;
      const { client: poor } = await budgeted(reservation - 1);
      const error = await rejection(
        poor.embeddings.create({ model: 'embed', input, encoding_format: 'float' }),
      );
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(429);
      expect(gemini.requests.length).toBe(before);
    });

    it('a budget of exactly the reservation is served in its parts and charged their usage', async () => {
      const before = gemini.requests.length;
      const { id, client: enough } = await budgeted(reservation);
      const embedded = await enough.embeddings.create({ model: 'embed', input, encoding_format: 'float' });
      expect(embedded.data).toHaveLength(250);
      expect(sentSince(before)).toHaveLength(3);
      await expect.poll(async () => (await usage(id))?.requests).toBe(1);
      expect(await usage(id)).toMatchObject({ inputTokens: 500, costMicros: 500 * PRICE.input });
    });
  });
});

/**
 * Gemini's own batchEmbedContents takes at most 100 requests, and so does Keyward's Gemini surface,
 * whatever serves it: a client that works through Keyward then works against Gemini too.
 */
describe("the Gemini surface's batchEmbedContents", () => {
  let gemini: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  let ai: GoogleGenAI;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'gemini', type: 'gemini', baseUrl: gemini.baseUrl, keys: { env: 'P_KEY' } },
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'P_KEY' } },
        ],
      },
      { KEYWARD_API_KEY: 'kw-client-key-parts-0123456789', P_KEY: PROVIDER_KEY },
    );
    ai = new GoogleGenAI({
      apiKey: 'kw-client-key-parts-0123456789',
      httpOptions: { baseUrl: kw.dataUrl },
    });
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
    await openai?.close();
  });

  it('takes 100 requests, and refuses 101 as Gemini does, for a Gemini or an OpenAI provider alike', async () => {
    const hundred = await ai.models.embedContent({
      model: 'gemini/gemini-embedding-001',
      contents: texts(100),
    });
    expect(hundred.embeddings).toHaveLength(100);
    for (const model of ['gemini/gemini-embedding-001', 'openai/text-embedding-3-small']) {
      const before = gemini.requests.length + openai.requests.length;
      const error = await rejection(ai.models.embedContent({ model, contents: texts(101) }));
      expect(error).toMatchObject({ status: 400 });
      const refusal = JSON.parse((error as Error).message).error;
      expect(refusal).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      expect(refusal.message).toContain('at most 100');
      expect(gemini.requests.length + openai.requests.length).toBe(before);
    }
  });
});
