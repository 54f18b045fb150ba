import { GoogleGenAI, ServiceTier } from '@google/genai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const turn: Script = {
  blocks: [{ type: 'text', text: 'Done.' }],
  stop: 'end',
  usage: { input: 1_000, output: 100 },
};
/** At gemini-2.5-flash's list prices: 1,000 input × 0.3 and 100 output × 2.5, in micro-dollars. */
const FLASH = 1_000 * 0.3 + 100 * 2.5;
/** At gpt-4o-mini's: 1,000 × 0.15 and 100 × 0.6. */
const GPT_4O_MINI = 1_000 * 0.15 + 100 * 0.6;

/**
 * What the Gemini surface (`/v1beta/models/{model}:…`) does with a request before a provider sees
 * it: Gemini's priority tier priced, an alias's temperature where the body keeps it, parts holding
 * one kind of data, and embedding requests naming no other model than the path's.
 */
describe('the Gemini surface', () => {
  let gemini: FakeProvider;
  let openai: FakeProvider;
  let kw: TestGateway;
  let minted = 0;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    gemini.script(turn);
    openai.script(turn);
    const keys = { env: 'PROVIDER_KEY' };
    const warm = { temperature: { default: 0.3 } };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'g', type: 'gemini', baseUrl: gemini.baseUrl, keys, retries: { maxAttempts: 1 } },
          { id: 'o', type: 'openai', baseUrl: openai.baseUrl, keys, retries: { maxAttempts: 1 } },
        ],
        models: [
          { name: 'flash', provider: 'g', model: 'gemini-2.5-flash' },
          { name: 'tuned', provider: 'g', model: 'gemini-tuned-support' },
          { name: 'mini', provider: 'o', model: 'gpt-4o-mini' },
          { name: 'warm-gemini', provider: 'g', model: 'gemini-2.5-flash', params: warm },
          { name: 'warm-openai', provider: 'o', model: 'gpt-4o-mini', params: warm },
          { name: 'embed', provider: 'g', model: 'gemini-embedding-001' },
        ],
        // Priced, with no multiple for priority processing.
        pricing: { 'gemini-tuned-support': { input: 0.3, output: 2.5 } },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
    await openai?.close();
  });

  /** A token of its own per case, so its usage row is the case's alone, held to a budget. */
  async function budgeted(): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `gemini-surface-${++minted}`,
      budget: { usd: 100, period: 'day' },
    });
    expect(res.status).toBe(201);
    return res.json;
  }
  const costOf = async (tokenId: string): Promise<number | undefined> =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0]
      ?.costMicros;
  const client = (apiKey = CLIENT_KEY) => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: kw.dataUrl } });

  async function post(path: string, body: unknown, apiKey = CLIENT_KEY) {
    const res = await request(`${kw.dataUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': apiKey },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, text, json: JSON.parse(text.startsWith('data: ') ? '{}' : text) };
  }
  const hello = [{ role: 'user', parts: [{ text: 'Quickly, please.' }] }];

  describe("Gemini's priority tier", () => {
    it("is charged at the price's fast multiple (2 for the built-in Gemini prices), by any of its spellings, and sent on", async () => {
      const standard = await budgeted();
      await client(standard.token).models.generateContent({ model: 'flash', contents: 'Quickly, please.' });
      await expect.poll(() => costOf(standard.id)).toBe(FLASH);

      const priority = await budgeted();
      const from = gemini.requests.length;
      await client(priority.token).models.generateContent({
        model: 'flash',
        contents: 'Quickly, please.',
        config: { serviceTier: ServiceTier.PRIORITY },
      });
      // The proto names, as Google's curl examples write them, streamed.
      const streamed = await post(
        '/v1beta/models/flash:streamGenerateContent?alt=sse',
        { contents: hello, service_tier: 'SERVICE_TIER_PRIORITY' },
        priority.token,
      );
      expect(streamed.status).toBe(200);
      await expect.poll(() => costOf(priority.id)).toBe(2 * 2 * FLASH);
      const sent = gemini.requests.slice(from).map((r) => (r.body as { serviceTier?: string }).serviceTier);
      expect(sent).toEqual(['priority', 'SERVICE_TIER_PRIORITY']);
    });

    it('is refused to a budget when the price names no multiple, and nothing is sent', async () => {
      const token = await budgeted();
      const from = gemini.requests.length;
      const refused = await post(
        '/v1beta/models/tuned:generateContent',
        { contents: hello, serviceTier: 'Priority' },
        token.token,
      );
      expect(refused.status).toBe(403);
      expect(refused.json.error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
      expect(refused.json.error.details[0].reason).toBe('fast_not_priced');
      expect(refused.json.error.message).toContain("Fast processing of model 'gemini-tuned-support'");
      expect(gemini.requests.length).toBe(from);
      // Without the tier the model's price holds.
      const served = await post('/v1beta/models/tuned:generateContent', { contents: hello }, token.token);
      expect(served.status).toBe(200);
    });

    it('is not sent to another format, and is charged there at the standard rates', async () => {
      const token = await budgeted();
      const from = openai.requests.length;
      await client(token.token).models.generateContent({
        model: 'mini',
        contents: 'Quickly, please.',
        config: { serviceTier: ServiceTier.PRIORITY },
      });
      await expect.poll(() => costOf(token.id)).toBe(GPT_4O_MINI);
      expect(openai.requests[from]!.body).not.toHaveProperty('service_tier');
    });
  });

  describe("an alias's temperature default", () => {
    const lastGeminiBody = () => gemini.requests.at(-1)!.body as Record<string, unknown>;
    const lastOpenAIBody = () => openai.requests.at(-1)!.body as Record<string, unknown>;

    it("reaches a Gemini provider in generationConfig, and the client's own temperature wins", async () => {
      await client().models.generateContent({ model: 'warm-gemini', contents: 'hi' });
      expect(lastGeminiBody()).not.toHaveProperty('temperature');
      expect(lastGeminiBody().generationConfig).toMatchObject({ temperature: 0.3 });

      await client().models.generateContent({
        model: 'warm-gemini',
        contents: 'hi',
        config: { temperature: 0.9, maxOutputTokens: 50 },
      });
      expect(lastGeminiBody().generationConfig).toEqual({ temperature: 0.9, maxOutputTokens: 50 });
    });

    it("fills in beside the proto-named generation_config, and the client's there wins", async () => {
      const filled = await post('/v1beta/models/warm-gemini:generateContent', {
        contents: hello,
        generation_config: { max_output_tokens: 50 },
      });
      expect(filled.status).toBe(200);
      expect(lastGeminiBody()).not.toHaveProperty('generation_config');
      expect(lastGeminiBody().generationConfig).toEqual({ maxOutputTokens: 50, temperature: 0.3 });

      const own = await post('/v1beta/models/warm-gemini:generateContent', {
        contents: hello,
        generation_config: { temperature: 0.9 },
      });
      expect(own.status).toBe(200);
      expect(lastGeminiBody().generationConfig).toEqual({ temperature: 0.9 });
    });

    it("reaches an OpenAI-format provider as its temperature, and the client's own wins", async () => {
      await client().models.generateContent({ model: 'warm-openai', contents: 'hi' });
      expect(lastOpenAIBody().temperature).toBe(0.3);
      await client().models.generateContent({
        model: 'warm-openai',
        contents: 'hi',
        config: { temperature: 0.9 },
      });
      expect(lastOpenAIBody().temperature).toBe(0.9);
    });
  });

  describe('a part holding two kinds of data', () => {
    const twoKinds = [
      { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
      {
        role: 'user',
        parts: [
          { text: 'Here it is', functionResponse: { name: 'get_weather', response: { output: 'sunny' } } },
        ],
      },
    ];

    it('is refused for every provider, naming the part, and nothing is sent', async () => {
      for (const [model, fake] of [
        ['flash', gemini],
        ['mini', openai],
      ] as const) {
        const from = fake.requests.length;
        const refused = await post(`/v1beta/models/${model}:generateContent`, { contents: twoKinds });
        expect(refused.status).toBe(400);
        expect(refused.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
        expect(refused.json.error.message).toContain("'contents[2].parts[0]'");
        expect(refused.json.error.message).toContain('text and functionResponse');
        expect(refused.json.error.details[1].fieldViolations[0].field).toBe('contents[2].parts[0]');
        expect(fake.requests.length).toBe(from);
      }
      const call = await post('/v1beta/models/flash:generateContent', {
        contents: [
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          {
            role: 'model',
            parts: [{ text: 'Let me look.', functionCall: { name: 'get_weather', args: {} } }],
          },
        ],
      });
      expect(call.status).toBe(400);
      expect(call.json.error.message).toContain("'contents[1].parts[0]'");
    });

    it('is not a part whose thought or signature sits beside its one kind of data', async () => {
      const res = await post('/v1beta/models/flash:generateContent', {
        contents: [
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          {
            role: 'model',
            parts: [
              { text: 'Thinking it over.', thought: true, thoughtSignature: 'c2ln' },
              { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: 'c2ln' },
            ],
          },
          {
            role: 'user',
            parts: [{ functionResponse: { name: 'get_weather', response: { output: 'sunny' } } }],
          },
        ],
      });
      expect(res.status).toBe(200);
    });
  });

  it('tells a client that sent no credential to send it in x-goog-api-key', async () => {
    for (const path of ['/v1beta/models/flash:generateContent', '/v1/models/flash:generateContent']) {
      const res = await request(`${kw.dataUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ contents: hello }),
      });
      const { error } = (await res.body.json()) as { error: { status: string; message: string } };
      expect(res.statusCode).toBe(401);
      expect(error.status).toBe('UNAUTHENTICATED');
      expect(error.message).toBe('Missing credential: send your Keyward key as "x-goog-api-key: <key>"');
    }
    // The OpenAI surface's clients are told their own header still.
    const openAI = await request(`${kw.dataUrl}/v1/chat/completions`, { method: 'POST' });
    expect(((await openAI.body.json()) as { error: { message: string } }).error.message).toContain(
      'Authorization: Bearer',
    );
  });

  describe('an embedding request naming a model in its body', () => {
    const content = (text: string) => ({ parts: [{ text }] });

    it("is refused when it is not the path's, in a batch from the first request on", async () => {
      const from = gemini.requests.length;
      const first = await post('/v1beta/models/embed:batchEmbedContents', {
        requests: [
          { model: 'models/other-model', content: content('a') },
          { model: 'models/embed', content: content('b') },
        ],
      });
      expect(first.status).toBe(400);
      expect(first.json.error.message).toBe('requests[0].model differs from the model in the path');
      const second = await post('/v1beta/models/embed:batchEmbedContents', {
        requests: [{ content: content('a') }, { model: 'models/other-model', content: content('b') }],
      });
      expect(second.status).toBe(400);
      expect(second.json.error.message).toBe('requests[1].model differs from the model in the path');
      const single = await post('/v1beta/models/embed:embedContent', {
        model: 'models/other-model',
        content: content('a'),
      });
      expect(single.status).toBe(400);
      expect(single.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      expect(single.json.error.message).toBe('model differs from the model in the path');
      expect(gemini.requests.length).toBe(from);
    });

    it("is served when it names the path's model, with models/ or without", async () => {
      const single = await post('/v1beta/models/embed:embedContent', {
        model: 'embed',
        content: content('a'),
      });
      expect(single.status).toBe(200);
      const batch = await client().models.embedContent({ model: 'embed', contents: ['a', 'b'] });
      expect(batch.embeddings).toHaveLength(2);
    });
  });

  it("names the client's part when an OpenAI-format provider cannot take it", async () => {
    const from = openai.requests.length;
    const res = await post('/v1beta/models/mini:generateContent', {
      contents: [
        { role: 'user', parts: [{ text: 'First.' }] },
        { role: 'model', parts: [{ text: 'Yes?' }] },
        {
          role: 'user',
          parts: [{ text: 'Look:' }, { fileData: { fileUri: 'files/abc123', mimeType: 'image/png' } }],
        },
      ],
    });
    expect(res.status).toBe(400);
    const violations = res.json.error.details.find((d: { fieldViolations?: unknown }) => d.fieldViolations);
    expect(violations.fieldViolations[0].field).toMatch(/^contents\[2\]\.parts\[1\]/);
    expect(openai.requests.length).toBe(from);
  });
  describe('stop sequences', () => {
    const stops = (n: number) => ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'].slice(0, n);
    const ask = (model: string, n: number) =>
      post(`/v1beta/models/${model}:generateContent`, {
        contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
        generationConfig: { stopSequences: stops(n) },
      });

    it('more than Gemini takes are refused, naming the field, for every provider', async () => {
      for (const model of ['flash', 'mini']) {
        const refused = await ask(model, 6);
        expect(refused.status).toBe(400);
        expect(refused.json.error.details[1].fieldViolations[0].field).toBe('generationConfig.stopSequences');
      }
    });

    it('past what an OpenAI model takes are refused with its limit, naming the Gemini field', async () => {
      const from = openai.requests.length;
      const refused = await ask('mini', 5);
      expect(refused.status).toBe(400);
      expect(refused.json.error.message).toContain('OpenAI takes at most 4 stop sequences');
      expect(refused.json.error.details[1].fieldViolations[0].field).toBe('generationConfig.stopSequences');
      expect(openai.requests.length).toBe(from);
      expect((await ask('mini', 4)).status).toBe(200);
      expect(openai.requests.at(-1)?.body).toMatchObject({ stop: stops(4) });
      expect((await ask('flash', 5)).status).toBe(200);
    });
  });
});
