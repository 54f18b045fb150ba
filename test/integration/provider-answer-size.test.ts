import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ANSWER_BYTES } from '../../src/upstream/response-body.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const MiB = 1024 * 1024;

/**
 * Every byte of a streamed answer, counted, and the start of each of its last events (where an
 * error event ends it; a Responses event's type and error come first).
 */
async function readStream(url: string, body: unknown): Promise<{ bytes: number; tail: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  let bytes = 0;
  const starts: string[] = [''];
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    const [more, ...next] = decoder.decode(chunk, { stream: true }).split('\n\n');
    starts[starts.length - 1] = (starts.at(-1)! + more).slice(0, 600);
    for (const event of next) starts.push(event.slice(0, 600));
    starts.splice(0, starts.length - 4);
  }
  return { bytes, tail: starts.join('\n\n') };
}

/**
 * A provider whose every answer is `head`, then `pad` again and again until `total` bytes are sent
 * or the gateway stops reading, then `tail`; and a gateway in front of it, whose model `fast` falls
 * back to another provider. `sent()` counts the pads, `fallbacks()` the other provider's requests.
 */
async function endlessAnswers(answer: {
  contentType: string;
  head: string;
  pad: Buffer;
  total: number;
  tail: string;
}): Promise<{
  kw: TestGateway;
  sent(): number;
  requests(): number;
  fallbacks(): number;
  close(): Promise<void>;
}> {
  let sent = 0;
  let requests = 0;
  let fallbacks = 0;
  const provider = createServer((req, res) => {
    requests++;
    req.resume();
    res.writeHead(200, { 'content-type': answer.contentType });
    res.write(answer.head);
    sent = 0;
    const more = () => {
      while (sent <= answer.total) {
        sent += answer.pad.length;
        if (!res.write(answer.pad)) return void res.once('drain', more);
      }
      res.end(answer.tail);
    };
    res.on('error', () => undefined);
    more();
  });
  // Answers nothing a client could mistake for the first provider's answer: any request is counted.
  const other = createServer((req, res) => {
    fallbacks++;
    req.resume();
    res.writeHead(503).end();
  });
  const url = async (server: typeof provider) => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  };
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        { id: 'big', type: 'openai', baseUrl: await url(provider), keys: { env: 'P_KEY' } },
        { id: 'other', type: 'openai', baseUrl: await url(other), keys: { env: 'P_KEY' } },
      ],
      models: [
        {
          name: 'fast',
          provider: 'big',
          model: 'gpt-4o-mini',
          fallbacks: [{ provider: 'other', model: 'gpt-4o-mini' }],
        },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
  );
  return {
    kw,
    sent: () => sent,
    requests: () => requests,
    fallbacks: () => fallbacks,
    close: async () => {
      await kw.close();
      for (const server of [provider, other]) {
        server.closeAllConnections();
        server.close();
      }
    },
  };
}

/**
 * A provider answering a non-streamed request with more bytes than any answer holds (a server gone
 * wrong, or something posing as one): read whole, every such answer grew the gateway's heap by its
 * size, and a few at once ended the process. It is cut at MAX_ANSWER_BYTES and answered 502.
 */
describe("a provider's answer past the size bound", () => {
  let answers: Awaited<ReturnType<typeof endlessAnswers>>;
  beforeAll(async () => {
    // JSON whitespace, a mebibyte at a time, until the gateway stops reading.
    answers = await endlessAnswers({
      contentType: 'application/json',
      head: '{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[]',
      pad: Buffer.alloc(MiB, 0x20),
      total: MAX_ANSWER_BYTES + 8 * MiB,
      tail: '}',
    });
  });
  afterAll(() => answers.close());

  it('is refused with 502, read no further than the bound', async () => {
    const client = new OpenAI({ baseURL: `${answers.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const failure = await client.chat.completions
      .create({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect((failure as InstanceType<typeof OpenAI.APIError>).status).toBe(502);
    expect((failure as InstanceType<typeof OpenAI.APIError>).error).toMatchObject({
      code: 'provider_answer_too_large',
      message: expect.stringContaining(`${MAX_ANSWER_BYTES / MiB} MiB`),
    });
    expect(answers.sent()).toBeLessThan(MAX_ANSWER_BYTES + 8 * MiB);
    // The provider answered (and bills it): not a failure another provider could make good.
    expect(answers.fallbacks()).toBe(0);
  });
});

/**
 * A provider streaming an answer that never ends (text deltas of a mebibyte each): relayed, the
 * gateway passed it on until the total deadline; translated to the Responses API, whose encoder
 * keeps the answer's text for `response.completed` (and storage), it also grew the heap by the
 * answer's size. A streamed answer is read no further than a whole one.
 */
describe("a provider's stream past the size bound", () => {
  let answers: Awaited<ReturnType<typeof endlessAnswers>>;
  const total = MAX_ANSWER_BYTES + 16 * MiB;
  beforeAll(async () => {
    const delta = {
      id: 'chatcmpl-1',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta: { content: 'x'.repeat(MiB) }, finish_reason: null }],
    };
    answers = await endlessAnswers({
      contentType: 'text/event-stream',
      head: '',
      pad: Buffer.from(`data: ${JSON.stringify(delta)}\n\n`),
      total,
      tail: 'data: [DONE]\n\n',
    });
  });
  afterAll(() => answers.close());

  it('is cut when relayed, and ends with an error event naming the bound', async () => {
    const { bytes, tail } = await readStream(`${answers.kw.dataUrl}/v1/chat/completions`, {
      model: 'fast',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(answers.sent()).toBeLessThan(total);
    expect(bytes).toBeLessThan(MAX_ANSWER_BYTES + 4 * MiB);
    expect(tail).toContain('"code":"provider_answer_too_large"');
    expect(tail).not.toContain('[DONE]');
  });

  it('is cut when translated to the Responses API, which keeps the answer it streams', async () => {
    const { bytes, tail } = await readStream(`${answers.kw.dataUrl}/v1/responses`, {
      model: 'fast',
      stream: true,
      store: false,
      input: 'hi',
    });
    expect(answers.sent()).toBeLessThan(total);
    // The deltas, then `response.failed` without the answer that was too large: sent again, it
    // made one event line of the bound's size, which the official SDK took minutes to read.
    expect(bytes).toBeLessThan(MAX_ANSWER_BYTES + 4 * MiB);
    expect(tail).toContain('"type":"response.failed"');
    expect(tail).toContain('"output":[]');
    expect(tail).toContain('provider_answer_too_large');
    expect(tail).not.toContain('response.completed');
  });
});

/**
 * A stream past the bound before its first event (comment lines only, or one event longer than the
 * bound): answered as a whole answer past it is, 502 `provider_answer_too_large`, and not taken to
 * another provider, as a stream cut before it began is: this one's provider answered, and bills it.
 */
describe("a provider's stream past the size bound before its first event", () => {
  let answers: Awaited<ReturnType<typeof endlessAnswers>>;
  beforeAll(async () => {
    answers = await endlessAnswers({
      contentType: 'text/event-stream',
      head: '',
      pad: Buffer.from(`: ${'x'.repeat(MiB)}\n\n`),
      total: MAX_ANSWER_BYTES + 16 * MiB,
      tail: 'data: [DONE]\n\n',
    });
  });
  afterAll(() => answers.close());

  it('is refused with 502 provider_answer_too_large, and falls back to no other provider', async () => {
    const ask = () =>
      fetch(`${answers.kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const res = await ask();
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: 'provider_answer_too_large' } });
    expect(answers.sent()).toBeLessThan(MAX_ANSWER_BYTES + 16 * MiB);
    expect(answers.fallbacks()).toBe(0);
    // An answer a client can ask to be long takes neither the key nor the model out of rotation:
    // the next request goes to the same provider.
    const again = await ask();
    expect(again.status).toBe(502);
    await again.body?.cancel();
    expect(answers.requests()).toBe(2);
    expect(answers.fallbacks()).toBe(0);
  });
});
