import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerMemory, type HeldAnswer } from '../../src/upstream/answer-memory.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { rawConnection } from '../support/raw-socket.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const MiB = 1024 * 1024;
/** The account's bound in these tests: a few answers of 4 MiB go past it. */
const BOUND = 8 * MiB;
const INPUTS = 128;
const DIMENSIONS = 3072;
const IDLE_MS = 1500;

/** The account a gateway counts its whole answers in, watched: the most it held, what it counted. */
class WatchedMemory extends AnswerMemory {
  peak = 0;
  counted = 0;
  readonly answers: HeldAnswer[] = [];

  override hold(resume: () => void): HeldAnswer {
    const answer = super.hold(resume);
    this.answers.push(answer);
    return answer;
  }

  override count(answer: HeldAnswer, bytes: number): boolean {
    const proceeds = super.count(answer, bytes);
    this.counted += bytes;
    this.peak = Math.max(this.peak, this.held);
    return proceeds;
  }
}

/** The embedding of input `i` of a request tagged `tag`: every value tells whose it is. */
const vector = (tag: number, i: number): number[] =>
  Array.from({ length: DIMENSIONS }, (_, j) => tag + i / 1000 + j / 1e7);

/** An OpenAI embeddings answer of `count` vectors of DIMENSIONS floats: 4.5 MiB of JSON for INPUTS. */
function embeddingsAnswer(tag: number, count = INPUTS): string {
  return JSON.stringify({
    object: 'list',
    data: Array.from({ length: count }, (_, i) => ({
      object: 'embedding',
      index: i,
      embedding: vector(tag, i),
    })),
    model: 'text-embedding-3-large',
    usage: { prompt_tokens: count, total_tokens: count },
  });
}

/** A streamed chat answer of 600 chunks (about 100 KiB), far past a response's write buffer. */
function streamChat(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = (delta: object, finish: string | null) =>
    `data: ${JSON.stringify({
      id: 'chatcmpl-2',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'gpt-4o-mini',
      choices: [{ index: 0, delta, finish_reason: finish }],
    })}\n\n`;
  let out = chunk({ role: 'assistant', content: '' }, null);
  for (let i = 0; i < 600; i++) out += chunk({ content: `piece ${i} `.padEnd(40, '.') }, null);
  out += chunk({}, 'stop');
  out += `data: ${JSON.stringify({ id: 'chatcmpl-2', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 1, completion_tokens: 600, total_tokens: 601 } })}\n\n`;
  res.end(`${out}data: [DONE]\n\n`);
}

/** Every vector of an answer to the request tagged `tag`, in order. */
function expectVectors(answer: { data: Array<{ embedding: number[] }> }, tag: number): void {
  expect(answer.data).toHaveLength(INPUTS);
  for (const [i, item] of answer.data.entries()) expect(item.embedding).toEqual(vector(tag, i));
}

const inputs = (tag: number, count = INPUTS) =>
  Array.from({ length: count }, (_, i) => `request ${tag} input ${i}`);

/** Waits until `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await sleep(10);
  }
}

interface Answering {
  tag: number;
  res: ServerResponse;
  /** The gateway closed the answer's connection (one it keeps would stay open): it cut the exchange. */
  cut: boolean;
}

/**
 * A provider answering embeddings with `answer(tag, res, count)` (the tag read from the first
 * input, `count` the number of inputs) and
 * chat completions with a short answer; and a gateway in front of it counting whole answers in
 * `memory`. The model `embed-short` has a deadline of 3 s; the provider an idle timeout of `idleMs`.
 */
async function gatewayBefore(
  answer: (tag: number, res: ServerResponse, count: number) => void,
  memory: AnswerMemory,
  idleMs?: number,
): Promise<{ kw: TestGateway; provider: Server; answering: Answering[] }> {
  const answering: Answering[] = [];
  const provider = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      res.on('error', () => undefined);
      if (req.url?.endsWith('/chat/completions')) {
        if ((JSON.parse(body) as { stream?: boolean }).stream) return void streamChat(res);
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            created: 1,
            model: 'gpt-4o-mini',
            choices: [{ index: 0, message: { role: 'assistant', content: 'Hi.' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
          }),
        );
        return;
      }
      const { input } = JSON.parse(body) as { input: string[] };
      const tag = Number(/^request (\d+)/.exec(input[0]!)?.[1]);
      const entry: Answering = { tag, res, cut: false };
      answering.push(entry);
      // The answer may be all in the kernel's buffers already: its connection closing tells the cut.
      req.socket.once('close', () => {
        entry.cut = true;
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      answer(tag, res, input.length);
    });
  });
  provider.listen(0, '127.0.0.1');
  await once(provider, 'listening');
  const baseUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/v1`;
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'openai',
          type: 'openai',
          baseUrl,
          keys: { env: 'P_KEY' },
          retries: { maxAttempts: 1 },
          ...(idleMs && { timeouts: { idleMs } }),
        },
      ],
      models: [
        { name: 'embed', provider: 'openai', model: 'text-embedding-3-large' },
        { name: 'embed-short', provider: 'openai', model: 'text-embedding-3-large', timeoutMs: 3000 },
        { name: 'chat', provider: 'openai', model: 'gpt-4o-mini' },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    undefined,
    undefined,
    memory,
  );
  return { kw, provider, answering };
}

/**
 * A provider's answer read whole is held (its bytes, its text, its parsed form, the client's
 * socket buffer) until its client's response is over, about 2.5 times its size: each was bounded,
 * but not how many at once, and one client's 16 embeddings requests at once took a gateway to
 * 5.2 GB. The process counts the whole answers it holds: past the bound, every answer still
 * arriving waits (its connection paused) but the oldest held, and every one is still answered in full.
 */
describe('whole answers held at once', () => {
  const memory = new WatchedMemory(BOUND);
  let kw: TestGateway;
  let provider: Server;
  const requests = 10;

  beforeAll(async () => {
    const waiting: Array<() => void> = [];
    // Every provider answer starts once all the requests have arrived, so that they are read at once.
    ({ kw, provider } = await gatewayBefore((tag, res) => {
      waiting.push(() => res.end(embeddingsAnswer(tag)));
      if (waiting.length === requests) for (const start of waiting) start();
    }, memory));
  });
  afterAll(async () => {
    await kw?.close();
    provider?.closeAllConnections();
    provider?.close();
  });

  it('stay under the bound plus one answer, and every request gets its whole answer', async () => {
    const answerBytes = Buffer.byteLength(embeddingsAnswer(requests));
    expect(answerBytes * requests).toBeGreaterThan(2 * (BOUND + answerBytes));
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const answers = await Promise.all(
      Array.from({ length: requests }, (_, tag) =>
        client.embeddings.create({ model: 'embed', input: inputs(tag), encoding_format: 'float' }),
      ),
    );
    answers.forEach((answer, tag) => {
      expectVectors(answer, tag);
    });
    // Every answer was counted, and the account never held more than its bound and one answer
    // (and the chunk in hand as a connection paused).
    const sent = Array.from({ length: requests }, (_, tag) => Buffer.byteLength(embeddingsAnswer(tag)));
    expect(memory.counted).toBe(sent.reduce((sum, bytes) => sum + bytes));
    expect(memory.peak).toBeGreaterThan(BOUND);
    expect(memory.peak).toBeLessThanOrEqual(BOUND + answerBytes + MiB);
    // Released once each client had its answer.
    await until(() => memory.held === 0);
  });
});

/**
 * An answer paused behind the bound is still cut when its client leaves or its deadline passes
 * (its bytes released), is not cut by the provider's idle timeout for waiting, and holds up no
 * short answer.
 */
describe('an answer waiting behind the bound', () => {
  /** Under one answer: the first, held open past it, makes every later one wait. */
  const bound = 2 * MiB;
  const memory = new WatchedMemory(bound);
  let kw: TestGateway;
  let provider: Server;
  let answering: Answering[];
  /** Ends the first answer, which the provider holds open past the bound. */
  let finishFirst: () => void;

  beforeAll(async () => {
    const first = embeddingsAnswer(0);
    // Past the bound, at a comma: JSON whitespace may follow while the answer is held open.
    const cut = first.indexOf(',', bound + MiB) + 1;
    ({ kw, provider, answering } = await gatewayBefore(
      (tag, res, count) => {
        if (tag !== 0) return void res.end(embeddingsAnswer(tag, count));
        res.write(first.slice(0, cut));
        // A space now and then: the first answer stays within the provider's idle timeout.
        const trickle = setInterval(() => res.write(' '), IDLE_MS / 4);
        finishFirst = () => {
          clearInterval(trickle);
          res.end(first.slice(cut));
        };
        res.once('close', () => clearInterval(trickle));
      },
      memory,
      IDLE_MS,
    ));
  });
  afterAll(async () => {
    await kw?.close();
    provider?.closeAllConnections();
    provider?.close();
  });

  it('is cut with its client or its deadline, and a short answer passes it', async () => {
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const first = client.embeddings.create({ model: 'embed', input: inputs(0), encoding_format: 'float' });
    await until(() => memory.held > bound);

    // A second answer waits behind the first, longer than the provider's idle timeout.
    const leaving = new AbortController();
    const second = client.embeddings
      .create({ model: 'embed', input: inputs(1), encoding_format: 'float' }, { signal: leaving.signal })
      .catch((error: unknown) => error);
    await until(() => memory.answers[1]?.paused === true);
    await sleep(IDLE_MS * 2);
    expect(memory.answers[1]?.paused).toBe(true);
    expect(answering[1]?.cut).toBe(false);

    // A short answer is not held up behind them.
    const chat = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'Hi' }],
    });
    expect(chat.choices[0]?.message.content).toBe('Hi.');

    // Its client leaves: the provider's exchange is cut and its bytes released.
    const heldBefore = memory.answers[1]!.bytes;
    expect(heldBefore).toBeGreaterThan(0);
    leaving.abort();
    await until(() => answering[1]?.cut === true);
    await until(() => memory.answers[1]!.bytes === 0);
    expect(await second).toBeInstanceOf(OpenAI.APIUserAbortError);

    // A third waits until its deadline: answered 504, the exchange cut, its bytes released.
    const late = await client.embeddings
      .create({ model: 'embed-short', input: inputs(2), encoding_format: 'float' })
      .catch((error: unknown) => error);
    expect(late).toBeInstanceOf(OpenAI.APIError);
    expect((late as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
    // (The account's third answer was the chat answer's.)
    await until(() => answering[2]?.cut === true);
    await until(() => memory.answers[3]!.bytes === 0);

    // The first, which never waited, is answered whole; then nothing is held.
    finishFirst();
    const answer = await first;
    expectVectors(answer, 0);
    await until(() => memory.held === 0);
  });

  it('is cut when its client does not take it, and the answers behind it proceed', async () => {
    // Far more than the kernel's socket buffers take from a client that reads nothing.
    const count = 4 * INPUTS;
    const body = JSON.stringify({ model: 'embed', input: inputs(3, count), encoding_format: 'float' });
    const connection = await rawConnection(
      kw.dataUrl,
      `POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n` +
        `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    connection.socket.pause();
    const untaken = Buffer.byteLength(embeddingsAnswer(3, count));
    await until(() => memory.held >= untaken);

    // Behind it, past the bound, the next answer waits until it is released.
    const client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    const next = client.embeddings.create({ model: 'embed', input: inputs(4), encoding_format: 'float' });
    await until(() => memory.answers.at(-1)?.paused === true);

    // Cut after the provider's idle timeout, its answer incomplete; the one behind it is answered whole.
    const answer = await next;
    expectVectors(answer, 4);
    connection.socket.resume();
    const received = await connection.closed;
    expect(received).toContain('HTTP/1.1 200');
    expect(received).not.toContain('"total_tokens"');
    await until(() => memory.held === 0);
  });
});

/**
 * A response queued behind another on a pipelined connection has no socket yet, and Node never
 * closes it when the client hangs up first: its answer stayed counted (and every large answer
 * behind the bound waited) for the life of the process, its provider exchange ran on, and its
 * request was never logged or settled.
 */
describe('a pipelined answer whose client hangs up', () => {
  const memory = new WatchedMemory(BOUND);
  let kw: TestGateway;
  let provider: Server;
  let answering: Answering[];

  beforeAll(async () => {
    // The first request's answer never comes; the one pipelined behind it comes at once.
    ({ kw, provider, answering } = await gatewayBefore((tag, res, count) => {
      if (tag !== 7) res.end(embeddingsAnswer(tag, count));
    }, memory));
  });
  afterAll(async () => {
    await kw?.close();
    provider?.closeAllConnections();
    provider?.close();
  });

  it('watches a connection once, however many requests it pipelines', async () => {
    const warnings: Error[] = [];
    const warned = (warning: Error) => warnings.push(warning);
    process.on('warning', warned);
    try {
      const ask = 'GET /v1/models HTTP/1.1\r\nHost: localhost\r\n\r\n';
      const last = 'GET /v1/models HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
      const connection = await rawConnection(kw.dataUrl, ask.repeat(15) + last);
      const received = await connection.closed;
      expect(received.match(/HTTP\/1\.1 401/g)).toHaveLength(16);
      // A warning is emitted on the next tick.
      await sleep(50);
    } finally {
      process.off('warning', warned);
    }
    expect(warnings.map((warning) => warning.name)).not.toContain('MaxListenersExceededWarning');
  });

  it('is closed with its connection: released, its exchange cut, its request logged', async () => {
    const request = (tag: number) => {
      const body = JSON.stringify({ model: 'embed', input: inputs(tag), encoding_format: 'float' });
      return (
        `POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\n` +
        `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      );
    };
    const connection = await rawConnection(kw.dataUrl, request(7) + request(8));
    await until(() => memory.held >= Buffer.byteLength(embeddingsAnswer(8)));
    await until(() => answering.some((entry) => entry.tag === 7));

    connection.socket.destroy();
    await until(() => memory.held === 0);
    await until(() => answering.find((entry) => entry.tag === 7)?.cut === true);
    await until(
      () =>
        logRecords(kw.logs).filter((line) => line.route === '/v1/embeddings' && line.status === 499)
          .length === 2,
    );
  });
});

/**
 * A response queued behind a long one on a pipelined connection can be taken only once it has the
 * socket: its time to be taken starts then, or a client reading all along loses it.
 */
describe('a pipelined answer behind a long one', () => {
  const memory = new WatchedMemory(BOUND);
  let kw: TestGateway;
  let provider: Server;

  beforeAll(async () => {
    ({ kw, provider } = await gatewayBefore(
      (tag, res, count) => {
        const answer = embeddingsAnswer(tag, count);
        if (tag !== 9) return void res.end(answer);
        // The first answer takes over three idle timeouts, a space now and then keeping it alive.
        const cut = answer.indexOf(',') + 1;
        res.write(answer.slice(0, cut));
        const trickle = setInterval(() => res.write(' '), 200);
        setTimeout(() => {
          clearInterval(trickle);
          res.end(answer.slice(cut));
        }, 3500);
      },
      memory,
      1000,
    ));
  });
  afterAll(async () => {
    await kw?.close();
    provider?.closeAllConnections();
    provider?.close();
  });

  it('is not cut for the time the one ahead took, streamed or not', async () => {
    const request = (tag: number, count: number, last: boolean) => {
      const body = JSON.stringify({ model: 'embed', input: inputs(tag, count), encoding_format: 'float' });
      return (
        `POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\n${last ? 'Connection: close\r\n' : ''}` +
        `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      );
    };
    const chat = JSON.stringify({ model: 'chat', stream: true, messages: [{ role: 'user', content: 'Hi' }] });
    const streamed =
      `POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n` +
      `Authorization: Bearer ${CLIENT_KEY}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(chat)}\r\n\r\n${chat}`;
    const connection = await rawConnection(
      kw.dataUrl,
      request(9, 1, false) + streamed + request(10, INPUTS, true),
    );
    const received = await connection.closed;
    expect(received.match(/HTTP\/1\.1 200/g)).toHaveLength(3);
    expect(received).toContain('piece 599 ');
    expect(received).toContain('data: [DONE]');
    expect(received.match(/"total_tokens"/g)).toHaveLength(2);
    await until(() => memory.held === 0);
  });
});
