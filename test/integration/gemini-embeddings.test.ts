import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => expect.unreachable('the request should have failed'),
    (error: unknown) => error,
  );

/** The official OpenAI SDK's embeddings through Keyward to a Gemini provider (a fake of Gemini's API). */
describe('embeddings to a Gemini provider', () => {
  let gemini: FakeProvider;
  let kw: TestGateway;
  let client: OpenAI;
  const model = 'gemini/gemini-embedding-001';

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'gemini',
            type: 'gemini',
            baseUrl: gemini.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
  });

  it('several inputs go to batchEmbedContents; the SDK default (base64) decodes to the vectors, in order', async () => {
    const embedded = await client.embeddings.create({ model, input: ['hi', 'hello'] });
    expect(embedded).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.125, -0.25, 0.5, 2 / 1024] },
        { object: 'embedding', index: 1, embedding: [0.125, -0.25, 0.5, 5 / 1024] },
      ],
      model: 'gemini-embedding-001',
      // Gemini reports no tokens for embeddings: four characters per token, rounded up per input.
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
    const sent = gemini.requests.at(-1)!;
    expect(sent.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(sent.headers['x-goog-api-key']).toBe(PROVIDER_KEY);
    expect(sent.body).toEqual({
      requests: [
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'hi' }] } },
        { model: 'models/gemini-embedding-001', content: { parts: [{ text: 'hello' }] } },
      ],
    });
  });

  it('counts a token for every character but ASCII, four of which make one', async () => {
    const embedded = await client.embeddings.create({
      model,
      input: 'ab 日本語の文 😀',
      encoding_format: 'float',
    });
    // "ab  " is four ASCII characters (one token); the five CJK characters and the emoji one each.
    expect(embedded.usage).toEqual({ prompt_tokens: 1 + 5 + 1, total_tokens: 7 });
  });

  it('one input goes to embedContent, with dimensions as outputDimensionality and floats as asked', async () => {
    const embedded = await client.embeddings.create({
      model,
      input: 'abc',
      dimensions: 2,
      encoding_format: 'float',
    });
    expect(embedded.data).toEqual([{ object: 'embedding', index: 0, embedding: [0.125, -0.25] }]);
    expect(embedded.usage).toEqual({ prompt_tokens: 1, total_tokens: 1 });
    expect(gemini.requests.at(-1)).toMatchObject({
      path: '/v1beta/models/gemini-embedding-001:embedContent',
      body: {
        model: 'models/gemini-embedding-001',
        content: { parts: [{ text: 'abc' }] },
        outputDimensionality: 2,
      },
    });
  });

  it('base64 on the wire is little-endian float32, as OpenAI sends it', async () => {
    const res = await fetch(`${kw.dataUrl}/v1/embeddings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model, input: 'abcd', encoding_format: 'base64' }),
    });
    const body = (await res.json()) as { data: Array<{ embedding: string }> };
    const bytes = Buffer.from(body.data[0]!.embedding, 'base64');
    expect([...new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)]).toEqual([
      0.125,
      -0.25,
      0.5,
      4 / 1024,
    ]);
  });

  it('token-id input is a 400 naming input, and Gemini is not called', async () => {
    const before = gemini.requests.length;
    const error = await rejection(client.embeddings.create({ model, input: [[1, 2, 3]] }));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
      code: 'unsupported_for_provider',
      param: 'input',
    });
    expect(gemini.requests.length).toBe(before);
  });

  it("Gemini's errors reach the client as OpenAI errors, without the provider's body", async () => {
    gemini.script({
      blocks: [],
      stop: 'end',
      usage: { input: 0, output: 0 },
      fault: { kind: 'status', status: 429 },
    });
    const error = await rejection(client.embeddings.create({ model, input: 'x' }));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(JSON.stringify((error as InstanceType<typeof OpenAI.RateLimitError>).error)).not.toContain(
      'RESOURCE_EXHAUSTED',
    );
  });
});

/**
 * `@google/genai`'s embeddings through Keyward's Gemini surface to an OpenAI-format provider whose
 * answer is not in input order or not one vector an input: each vector goes with its input by
 * `index`, and an answer short of vectors is the provider's fault (502), never a shorter list.
 */
describe('Gemini embeddings from an OpenAI-format provider', () => {
  let openai: FakeOpenAI;
  let kw: TestGateway;
  let ai: GoogleGenAI;
  const model = 'openai/text-embedding-3-small';
  const vector = (index: number, value: number) => ({
    object: 'embedding',
    index,
    embedding: [value, value],
  });
  const answer = (data: unknown[]) => ({
    status: 200,
    body: {
      object: 'list',
      data,
      model: 'text-embedding-3-small',
      usage: { prompt_tokens: 2, total_tokens: 2 },
    },
  });

  beforeAll(async () => {
    openai = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'openai',
            type: 'openai',
            baseUrl: `${openai.url}/v1`,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });
  });
  afterAll(async () => {
    await kw?.close();
    await openai?.close();
  });

  it('gives each input its own vector, whatever order the provider lists them in', async () => {
    openai.script(answer([vector(2, 3), vector(0, 1), vector(1, 2)]));
    const embedded = await ai.models.embedContent({ model, contents: ['one', 'two', 'three'] });
    expect(embedded.embeddings?.map((embedding) => embedding.values)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
    ]);
  });

  it('answers 502 in Google’s envelope when the provider gives fewer vectors than inputs', async () => {
    for (const [contents, data] of [
      [['one', 'two'], [vector(0, 1)]],
      [['one', 'two'], []],
      ['one', []],
    ] as const) {
      openai.script(answer([...data]));
      const error = await rejection(
        ai.models.embedContent({ model, contents: typeof contents === 'string' ? contents : [...contents] }),
      );
      expect(error).toMatchObject({ status: 502 });
      expect(JSON.parse((error as Error).message).error).toMatchObject({ code: 502, status: 'INTERNAL' });
    }
  });
});
