import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { shareOf } from '../support/input-share.js';
import { PROVIDER_KEY } from '../support/setup.js';

/** Micro-dollars a token, the same at every target. */
const PRICE = { input: 10, output: 10 };
/** "text 0" … "text N-1": two estimated tokens each at Gemini (four ASCII characters a token). */
const texts = (count: number) => Array.from({ length: count }, (_, i) => `text ${i}`);

type Answer = (texts: string[], res: ServerResponse) => void;

/** Gemini's batchEmbedContents answer for `count` inputs, four dimensions each. */
const vectors = (count: number) =>
  JSON.stringify({ embeddings: Array.from({ length: count }, () => ({ values: [0.1, 0.2, 0.3, 0.4] })) });
const answered: Answer = (sent, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(vectors(sent.length));
};
const gatewayTimeout = (res: ServerResponse) => {
  res.writeHead(504, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: 504, message: 'timeout', status: 'DEADLINE_EXCEEDED' } }));
};
/** Each part (each whole request) answered 504 the first time it comes, then its vectors. */
const timesOutOnce = (): Answer => {
  const seen = new Set<string>();
  return (inputs, res) => {
    if (seen.has(inputs[0]!)) return answered(inputs, res);
    seen.add(inputs[0]!);
    gatewayTimeout(res);
  };
};

/**
 * Failures of the parts an OpenAI embeddings request of more than 100 inputs is sent to Gemini in,
 * against a Gemini of the test's own: what they are charged, and where they go.
 */
describe('an embeddings request sent to Gemini in parts, whose parts fail', () => {
  let server: Server;
  let answer: Answer = answered;
  const sent: string[][] = [];
  let openai: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const { requests } = JSON.parse(Buffer.concat(chunks).toString()) as {
          requests: Array<{ content: { parts: Array<{ text: string }> } }>;
        };
        const inputs = requests.map((r) => r.content.parts[0]!.text);
        sent.push(inputs);
        answer(inputs, res);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const gemini = (id: string, maxAttempts: number) => ({
      id,
      type: 'gemini' as const,
      baseUrl: `http://127.0.0.1:${port}/v1beta`,
      keys: { env: 'G_KEY' },
      retries: { maxAttempts, baseDelayMs: 5, maxDelayMs: 20 },
    });
    kw = await startTestGateway(
      {
        providers: [
          gemini('gemini', 1),
          gemini('gemini-retries', 2),
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'O_KEY' } },
        ],
        models: [
          {
            name: 'embed',
            provider: 'gemini',
            model: 'gemini-embedding-001',
            fallbacks: [{ provider: 'openai', model: 'text-embedding-3-small' }],
          },
          { name: 'embed-retries', provider: 'gemini-retries', model: 'gemini-embedding-001' },
        ],
        pricing: { 'gemini-embedding-001': PRICE, 'text-embedding-3-small': PRICE },
      },
      { G_KEY: PROVIDER_KEY, O_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  /** Answers begun and left open by a test, ended with the server. */
  const open: ServerResponse[] = [];
  afterAll(async () => {
    for (const res of open) res.destroy();
    await kw?.close();
    server?.close();
    await openai?.close();
  });
  beforeEach(() => {
    answer = answered;
    sent.length = 0;
  });

  /** A token of the test's own, under a daily budget of `micros` when given. */
  const mint = async (micros?: number) => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'parts failing',
      ...(micros !== undefined && { budget: { usd: micros / 1e6, period: 'day' } }),
    });
    return {
      id: minted.json.id as string,
      client: new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: minted.json.token, maxRetries: 0 }),
    };
  };
  const usage = async (id: string) => {
    const row = async () =>
      (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`)).json.rows[0];
    await expect.poll(async () => (await row())?.requests).toBe(1);
    return row();
  };
  /** The bytes of the SDK's body for `input` (float named, so that it adds nothing of its own). */
  const bodyBytes = (model: string, input: string[]) =>
    Buffer.byteLength(JSON.stringify({ model, input, encoding_format: 'float' }));

  it('one 504 at every part costs one reservation, as one 504 at a request sent whole does', async () => {
    const model = 'embed-retries';
    // Sent whole (100 inputs, one call): its answer's usage, and its reservation for the 504.
    answer = timesOutOnce();
    const whole = await mint();
    const few = texts(100);
    await whole.client.embeddings.create({ model, input: few, encoding_format: 'float' });
    expect(sent).toHaveLength(2);
    expect(await usage(whole.id)).toMatchObject({ inputTokens: 200 + Math.ceil(bodyBytes(model, few) / 4) });
    // In ten parts, each answered 504 once: each 504 is charged its part's share of the
    // reservation, the ten together the reservation (it was charged the whole reservation ten times).
    answer = timesOutOnce();
    sent.length = 0;
    const parts = await mint();
    const many = texts(1000);
    const embedded = await parts.client.embeddings.create({ model, input: many, encoding_format: 'float' });
    expect(embedded.usage.prompt_tokens).toBe(2000);
    expect(sent).toHaveLength(20);
    const reservation = Math.ceil(bodyBytes(model, many) / 4);
    expect(await usage(parts.id)).toMatchObject({
      inputTokens: 2000 + reservation,
      costMicros: (2000 + reservation) * PRICE.input,
    });
  });

  it('under a budget of exactly the reservation, the 504s of every part cost the reservation once', async () => {
    const model = 'embed-retries';
    answer = timesOutOnce();
    const input = texts(1000);
    // A budget reserves an embeddings batch at a token a byte.
    const reservation = bodyBytes(model, input) * PRICE.input;
    const { id, client } = await mint(reservation);
    const embedded = await client.embeddings.create({ model, input, encoding_format: 'float' });
    expect(embedded.data).toHaveLength(1000);
    // What the same request sent whole is charged for one 504 and its answer; it was charged ten
    // reservations (10.2 times the budget).
    expect(await usage(id)).toMatchObject({ costMicros: reservation + 2000 * PRICE.input });
  });

  it("a compressed answer to the first part goes to the route's fallback, as a whole request's does", async () => {
    answer = (inputs, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(vectors(inputs.length)));
    };
    const { id, client } = await mint();
    const before = openai.requests.length;
    const embedded = await client.embeddings.create({
      model: 'embed',
      input: texts(150),
      encoding_format: 'float',
    });
    expect(embedded.data).toHaveLength(150);
    expect(sent.map((part) => part[0])).toEqual(['text 0']);
    const fallback = openai.requests.slice(before);
    expect(fallback).toHaveLength(1);
    expect((fallback[0]!.body as { input: string[] }).input).toEqual(texts(150));
    // Gemini billed the compressed part: its share of the reservation, beside the fallback's usage.
    const reservation = Math.ceil(bodyBytes('embed', texts(150)) / 4);
    expect(await usage(id)).toMatchObject({
      inputTokens: embedded.usage.prompt_tokens + shareOf(reservation, texts(150), 0, 100),
    });
  });

  it("a client leaving while a part's answer is read is charged that part's share", async () => {
    const model = 'embed';
    const input = texts(150);
    for (const [stall, from, to, before] of [
      ['text 0', 0, 100, 0],
      ['text 100', 100, 150, 200],
    ] as const) {
      // The part's headers and the start of its vectors, then silence: the gateway is reading it
      // (past the first 16 KiB, which are read before the answer is taken as one).
      let reading!: () => void;
      const read = new Promise<void>((resolve) => {
        reading = resolve;
      });
      answer = (inputs, res) => {
        if (inputs[0] !== stall) return answered(inputs, res);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(vectors(2000).slice(0, 20_000));
        open.push(res);
        setTimeout(reading, 50);
      };
      const { id, client } = await mint();
      const leave = new AbortController();
      const call = client.embeddings
        .create({ model, input, encoding_format: 'float' }, { signal: leave.signal })
        .catch((error: unknown) => error);
      await read;
      leave.abort();
      await call;
      // The parts answered before it report their usage (two tokens an input); it was charged 0.
      const reservation = Math.ceil(bodyBytes(model, input) / 4);
      expect(await usage(id)).toMatchObject({ inputTokens: before + shareOf(reservation, input, from, to) });
    }
  });

  it('a compressed answer to a later part fails the request: no fallback once a part was answered', async () => {
    answer = (inputs, res) => {
      if (inputs[0] === 'text 0') return answered(inputs, res);
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
      res.end(gzipSync(vectors(inputs.length)));
    };
    const { client } = await mint();
    const before = openai.requests.length;
    const error = await client.embeddings
      .create({ model: 'embed', input: texts(150), encoding_format: 'float' })
      .then(
        () => expect.unreachable('the request should have failed'),
        (failure: unknown) => failure,
      );
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect(sent.map((part) => part[0])).toEqual(['text 0', 'text 100']);
    expect(openai.requests.length).toBe(before);
  });
});
