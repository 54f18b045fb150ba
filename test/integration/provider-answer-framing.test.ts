import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Providers' answers framed in ways the specifications allow but the fake providers never use,
 * written by a bare HTTP server: SSE lines ended by a bare CR, JSON opening with a byte order mark,
 * answers compressed where the request allows it.
 */

type Format = 'openai' | 'anthropic' | 'gemini';
const USAGE = { input: 11, output: 22 };

function formatOf(url: string): Format {
  if (url.includes('/messages')) return 'anthropic';
  if (/generateContent/i.test(url)) return 'gemini';
  return 'openai';
}

/** One answer's SSE events (data, and the event name where the format has one). */
function streamEvents(format: Format): Array<{ event?: string; data: string }> {
  if (format === 'openai') {
    const chunk = (delta: object, finish: string | null, usage?: object) =>
      JSON.stringify({
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: usage ? [] : [{ index: 0, delta, finish_reason: finish }],
        ...(usage && { usage }),
      });
    return [
      { data: chunk({ role: 'assistant', content: 'Hi' }, null) },
      { data: chunk({}, 'stop') },
      { data: chunk({}, null, { prompt_tokens: USAGE.input, completion_tokens: USAGE.output }) },
      { data: '[DONE]' },
    ];
  }
  if (format === 'anthropic') {
    const e = (type: string, payload: object) => ({
      event: type,
      data: JSON.stringify({ type, ...payload }),
    });
    return [
      e('message_start', {
        message: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'm',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: USAGE.input, output_tokens: 1 },
        },
      }),
      e('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      e('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } }),
      e('content_block_stop', { index: 0 }),
      e('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: USAGE.output },
      }),
      e('message_stop', {}),
    ];
  }
  const usageMetadata = {
    promptTokenCount: USAGE.input,
    candidatesTokenCount: USAGE.output,
    totalTokenCount: USAGE.input + USAGE.output,
  };
  return [
    {
      data: JSON.stringify({
        candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
        usageMetadata,
        modelVersion: 'm',
      }),
    },
  ];
}

/** One answer read whole. */
function whole(format: Format): object {
  if (format === 'openai')
    return {
      id: 'c1',
      object: 'chat.completion',
      created: 1,
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: USAGE.input, completion_tokens: USAGE.output },
    };
  if (format === 'anthropic')
    return {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      model: 'm',
      content: [{ type: 'text', text: 'Hi' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: USAGE.input, output_tokens: USAGE.output },
    };
  return {
    candidates: [{ content: { parts: [{ text: 'Hi' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: USAGE.input, candidatesTokenCount: USAGE.output },
    modelVersion: 'm',
  };
}

function sse(format: Format, eol: string): string {
  return streamEvents(format)
    .map(({ event, data }) => `${event ? `event: ${event}${eol}` : ''}data: ${data}${eol}${eol}`)
    .join('');
}

/** How the provider answers: `hold` leaves a stream's connection open after its last event. */
let answer: (format: Format, req: IncomingMessage, res: ServerResponse) => void;

describe("a provider's answer framed as the specifications allow", () => {
  let provider: Server;
  let kw: TestGateway;
  beforeAll(async () => {
    provider = createServer((req, res) => {
      req.resume();
      req.on('end', () => answer(formatOf(req.url ?? ''), req, res));
    });
    provider.listen(0, '127.0.0.1');
    await once(provider, 'listening');
    const origin = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;
    const common = {
      keys: { env: 'PROVIDER_KEY' },
      retries: { maxAttempts: 1 },
      // Far past the test's timeout: a stream that waits for it fails the test.
      timeouts: { idleMs: 60_000 },
    };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        pricing: { m: { input: 1, output: 2 } },
        providers: [
          { id: 'oa', type: 'openai', baseUrl: `${origin}/v1`, ...common },
          { id: 'an', type: 'anthropic', baseUrl: `${origin}/v1`, ...common },
          { id: 'ge', type: 'gemini', baseUrl: `${origin}/v1beta`, ...common },
        ],
        models: [
          { name: 'oa-then-an', provider: 'oa', model: 'm', fallbacks: [{ provider: 'an', model: 'm' }] },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    provider?.closeAllConnections();
    provider?.close();
  });

  /** Calls `surface` for `model` with a token of its own; the status, body and usage recorded. */
  async function call(surface: 'chat' | 'messages' | 'gemini', model: string, stream: boolean) {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `t-${surface}-${model.replace('/', '-')}-${stream}-${Math.random()}`,
      budget: { usd: 100, period: 'day' },
    });
    const { id, token } = minted.json as { id: string; token: string };
    const json = { 'content-type': 'application/json' };
    const messages = [{ role: 'user', content: 'hi' }];
    const [path, headers, body] =
      surface === 'chat'
        ? [
            '/v1/chat/completions',
            { ...json, authorization: `Bearer ${token}` },
            { model, stream, messages, max_tokens: 100 },
          ]
        : surface === 'messages'
          ? [
              '/v1/messages',
              { ...json, authorization: `Bearer ${token}` },
              { model, stream, messages, max_tokens: 100 },
            ]
          : [
              `/v1beta/models/${model}:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
              { ...json, 'x-goog-api-key': token },
              {
                contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
                generationConfig: { maxOutputTokens: 100 },
              },
            ];
    const res = await request(`${kw.dataUrl}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    const usage = async () =>
      ((await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`)).json.rows as object[])[0];
    await expect.poll(usage).toMatchObject({ requests: 1 });
    return { status: res.statusCode, text, usage: await usage() };
  }

  const CASES = [
    ['chat', 'oa/m'],
    ['messages', 'an/m'],
    ['gemini', 'ge/m'],
    ['chat', 'an/m'],
    ['chat', 'ge/m'],
  ] as const;

  describe('SSE lines ended by a bare CR', () => {
    for (const [surface, model] of CASES)
      it(`${model} streamed to ${surface}: the last event ends the answer at once`, async () => {
        answer = (format, _req, res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(sse(format, '\r'));
          // A Gemini stream ends with its connection; the others with their last event, after
          // which a provider may keep the connection open a while.
          if (format === 'gemini') res.end();
        };
        const { status, text, usage } = await call(surface, model, true);
        expect(status).toBe(200);
        expect(text).toContain('Hi');
        expect(text).not.toMatch(/error|interrupted/);
        expect(usage).toMatchObject({ inputTokens: USAGE.input, outputTokens: USAGE.output });
      });
  });

  describe('JSON opening with a byte order mark', () => {
    for (const [surface, model] of CASES)
      it(`${model} read whole for ${surface}: the mark is ignored`, async () => {
        answer = (format, _req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`\uFEFF${JSON.stringify(whole(format))}`);
        };
        const { status, text, usage } = await call(surface, model, false);
        expect(status).toBe(200);
        expect(text).toContain('"Hi"');
        expect(usage).toMatchObject({ inputTokens: USAGE.input, outputTokens: USAGE.output });
      });
  });

  describe('compression', () => {
    /** Gzipped unless the request asks for identity alone, as a server may compress when not told. */
    const compressing =
      (stream: boolean, always = false) =>
      (format: Format, req: IncomingMessage, res: ServerResponse) => {
        const body = Buffer.from(stream ? sse(format, '\n') : JSON.stringify(whole(format)));
        const gzip = always || req.headers['accept-encoding'] !== 'identity';
        res.writeHead(200, {
          'content-type': stream ? 'text/event-stream' : 'application/json',
          ...(gzip && { 'content-encoding': 'gzip' }),
        });
        res.end(gzip ? gzipSync(body) : body);
      };

    for (const stream of [false, true])
      for (const [surface, model] of CASES)
        it(`${model} ${stream ? 'streamed' : 'read whole'} for ${surface}: asked uncompressed`, async () => {
          answer = compressing(stream);
          const { status, text, usage } = await call(surface, model, stream);
          expect(status).toBe(200);
          expect(text).toContain('Hi');
          expect(usage).toMatchObject({ inputTokens: USAGE.input, outputTokens: USAGE.output });
        });

    it.each([false, true])(
      'a provider compressing all the same is refused, and the log names the coding (stream: %s)',
      async (stream) => {
        answer = compressing(stream, true);
        kw.logs.length = 0;
        const { status, text, usage } = await call('chat', 'oa/m', stream);
        expect(status).toBe(502);
        expect(JSON.parse(text).error).toMatchObject({ code: 'provider_bad_response' });
        // Charged its reservation (the request's max_tokens), as an attempt that got no answer.
        expect(usage).toMatchObject({ requests: 1, outputTokens: 100 });
        expect(logRecords(kw.logs)).toContainEqual(
          expect.objectContaining({ provider: 'oa', contentEncoding: 'gzip' }),
        );
        // Nothing is held against the key: the provider's next plain answer is served with it.
        answer = compressing(stream);
        expect((await call('chat', 'oa/m', stream)).status).toBe(200);
      },
    );

    it.each([false, true])(
      "a provider compressing all the same gives way to the route's next target (stream: %s)",
      async (stream) => {
        const [gzipped, plain] = [compressing(stream, true), compressing(stream)];
        answer = (format, req, res) => (format === 'openai' ? gzipped : plain)(format, req, res);
        const { status, text, usage } = await call('chat', 'oa-then-an', stream);
        expect(status).toBe(200);
        expect(text).toContain('Hi');
        // The next target's answer, and the compressed attempt's reservation beside it.
        expect(usage).toMatchObject({ requests: 1, outputTokens: USAGE.output + 100 });
      },
    );
  });
});
