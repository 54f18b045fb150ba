import { Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { rawConnection } from '../support/raw-socket.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * What the gateway reads of a request body before any surface sees it: names that only look like
 * prototype keys pass to the provider as they were sent; a prototype-polluting key, a compressed
 * body, another charset or bytes that are not UTF-8 are refused with what to change, in the
 * envelope of the surface called, and nothing reaches the provider.
 */
describe('request bodies as bytes and keys', () => {
  let openaiFake: FakeProvider;
  let anthropicFake: FakeProvider;
  let kw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    openaiFake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    anthropicFake = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    const keyed = { keys: { env: 'P_KEY' }, retries: { maxAttempts: 1 } };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'oa', type: 'openai', baseUrl: openaiFake.baseUrl, ...keyed },
          { id: 'an', type: 'anthropic', baseUrl: anthropicFake.baseUrl, ...keyed },
        ],
        server: { bodyLimit: 64 * 1024 },
        limits: { jsonDepth: 16 },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, P_KEY: PROVIDER_KEY },
    );
    openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await openaiFake?.close();
    await anthropicFake?.close();
  });
  beforeEach(() => {
    openaiFake.requests.length = 0;
    anthropicFake.requests.length = 0;
  });

  const upstreamCount = () => openaiFake.requests.length + anthropicFake.requests.length;
  const refusedWith = <T>(call: Promise<unknown>): Promise<T> =>
    call.then(
      () => {
        throw new Error('the call was not refused');
      },
      (error: unknown) => error as T,
    );

  const chat = { model: 'oa/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
  const chatText = JSON.stringify(chat);
  const messages = {
    model: 'an/claude-sonnet-4-5',
    max_tokens: 100,
    messages: [{ role: 'user' as const, content: 'hi' }],
  };

  /** A raw POST: the body's bytes and headers exactly as given. */
  async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
    const res = await request(`${kw.dataUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`,
        'anthropic-version': '2023-06-01',
        'content-type': 'application/json',
        ...headers,
      },
      body,
    });
    const text = await res.body.text();
    return { status: res.statusCode, json: JSON.parse(text) };
  }

  it('passes constructor and prototype as names of tool parameters and metadata, OpenAI to OpenAI', async () => {
    const parameters = {
      type: 'object',
      properties: { constructor: { type: 'string' }, prototype: { type: 'string' } },
      required: ['constructor'],
    };
    const reply = await openai.chat.completions.create({
      model: 'oa/gpt-4o-mini',
      messages: [
        { role: 'user', content: 'Make a class' },
        {
          role: 'assistant',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'make_class', arguments: '{"constructor":"(x)"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'made' },
      ],
      tools: [{ type: 'function', function: { name: 'make_class', parameters } }],
      metadata: { prototype: 'v2', constructor: 'x' },
    });
    expect(reply.choices[0]?.message.content).toBeTruthy();
    const sent = openaiFake.requests.at(-1)!.body as Record<string, unknown>;
    expect(sent.tools).toEqual([{ type: 'function', function: { name: 'make_class', parameters } }]);
    expect(sent.metadata).toEqual({ prototype: 'v2', constructor: 'x' });
  });

  it('passes constructor and prototype as names of a tool schema and a tool input, Anthropic to Anthropic', async () => {
    const input_schema = {
      type: 'object' as const,
      properties: {
        constructor: { type: 'string', description: 'the constructor signature' },
        prototype: { type: 'object', properties: { constructor: { type: 'string' } } },
      },
    };
    const input = { constructor: '(x)', prototype: { constructor: 'Base' } };
    const reply = await anthropic.messages.create({
      ...messages,
      tools: [{ name: 'make_class', input_schema }],
      messages: [
        { role: 'user', content: 'Make a class' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'make_class', input }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'made' }] },
      ],
    });
    expect(reply.content[0]).toMatchObject({ type: 'text' });
    const sent = anthropicFake.requests.at(-1)!.body as {
      tools: unknown[];
      messages: Array<{ content: Array<{ input?: unknown }> }>;
    };
    expect(sent.tools).toEqual([{ name: 'make_class', input_schema }]);
    expect(sent.messages[1]?.content[0]?.input).toEqual(input);
  });

  it('refuses __proto__ and a constructor holding a prototype, naming the path, through each SDK', async () => {
    const withProto = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"}}}');
    const viaOpenAI = await refusedWith<InstanceType<typeof OpenAI.APIError>>(
      openai.chat.completions.create({
        model: 'oa/gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [{ type: 'function', function: { name: 'f', parameters: withProto } }],
      }),
    );
    expect(viaOpenAI.status).toBe(400);
    expect(viaOpenAI.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'forbidden_key',
      param: 'tools[0].function.parameters.properties.__proto__',
      message: expect.stringContaining(
        "the key '__proto__' at tools[0].function.parameters.properties.__proto__",
      ),
    });

    const viaAnthropic = await refusedWith<InstanceType<typeof Anthropic.APIError>>(
      anthropic.messages.create({
        ...messages,
        tools: [
          {
            name: 'f',
            input_schema: { type: 'object', properties: { constructor: { prototype: { polluted: true } } } },
          },
        ],
      }),
    );
    expect(viaAnthropic.status).toBe(400);
    expect(viaAnthropic.error).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message:
          "Request body has a 'constructor' object with a 'prototype' key at tools[0].input_schema.properties.constructor, which can alter objects' prototypes; rename or remove it",
      },
    });
    expect(upstreamCount()).toBe(0);
  });

  it('answers 415 to a compressed body, naming Content-Encoding and the fix, without decompressing it', async () => {
    for (const [coding, bytes] of [
      ['gzip', gzipSync(chatText)],
      ['deflate', deflateSync(chatText)],
      ['br', brotliCompressSync(chatText)],
    ] as const) {
      const res = await post('/v1/chat/completions', bytes, { 'content-encoding': coding });
      expect(res.status, coding).toBe(415);
      expect(res.json.error).toEqual({
        type: 'invalid_request_error',
        code: 'unsupported_content_encoding',
        param: null,
        message: `Content-Encoding ${coding} is not supported for request bodies; send the body uncompressed, without a Content-Encoding header`,
      });
    }
    const onMessages = await post('/v1/messages', gzipSync(JSON.stringify(messages)), {
      'content-encoding': 'gzip',
    });
    expect(onMessages.status).toBe(415);
    expect(onMessages.json).toMatchObject({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: expect.stringContaining('send the body uncompressed'),
      },
    });
    // The Responses surface answers in OpenAI's envelope, Gemini's in Google's.
    const onResponses = await post('/v1/responses', gzipSync('{}'), { 'content-encoding': 'gzip' });
    expect(onResponses.status).toBe(415);
    expect(onResponses.json.error.code).toBe('unsupported_content_encoding');
    const onGemini = await post('/v1beta/models/m:generateContent', gzipSync('{}'), {
      'content-encoding': 'gzip',
    });
    expect(onGemini.status).toBe(415);
    expect(onGemini.json.error).toMatchObject({
      code: 415,
      status: 'INVALID_ARGUMENT',
      details: [expect.objectContaining({ reason: 'unsupported_content_encoding' })],
    });
    expect(upstreamCount()).toBe(0);

    const plain = await post('/v1/chat/completions', chatText, { 'content-encoding': 'identity' });
    expect(plain.status).toBe(200);
  });

  it('answers 415 to a charset other than UTF-8, and reads UTF-8 however it is declared', async () => {
    const latin1 = Buffer.from(
      JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'café' }] }),
      'latin1',
    );
    const res = await post('/v1/chat/completions', latin1, {
      'content-type': 'application/json; charset=iso-8859-1',
    });
    expect(res.status).toBe(415);
    expect(res.json.error).toMatchObject({
      code: 'unsupported_charset',
      message:
        'Content-Type declares the charset iso-8859-1, which the gateway does not read; send the body encoded as UTF-8, with charset=utf-8 or no charset',
    });
    const onMessages = await post('/v1/messages', JSON.stringify(messages), {
      'content-type': 'application/json; charset="UTF-16"',
    });
    expect(onMessages.status).toBe(415);
    expect(onMessages.json.error.message).toContain('charset utf-16');
    expect(upstreamCount()).toBe(0);

    const utf8 = JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'café ☕' }] });
    for (const type of ['application/json; charset=utf-8', 'Application/JSON; Charset="UTF-8"']) {
      const ok = await post('/v1/chat/completions', utf8, { 'content-type': type });
      expect(ok.status, type).toBe(200);
      expect(openaiFake.requests.at(-1)!.body).toMatchObject({ messages: [{ content: 'café ☕' }] });
    }
  });

  it('answers 400 to bytes that are not UTF-8, instead of sending U+FFFD on', async () => {
    const bytes = Buffer.concat([
      Buffer.from('{"model":"oa/gpt-4o-mini","messages":[{"role":"user","content":"a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}]}'),
    ]);
    const res = await post('/v1/chat/completions', bytes);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({
      code: 'invalid_utf8',
      message: 'Request body is not valid UTF-8; send the JSON encoded as UTF-8',
    });
    const onMessages = await post(
      '/v1/messages',
      Buffer.from(JSON.stringify({ ...messages, messages: [{ role: 'user', content: 'café' }] }), 'latin1'),
    );
    expect(onMessages.status).toBe(400);
    expect(onMessages.json.error).toEqual({
      type: 'invalid_request_error',
      message: 'Request body is not valid UTF-8; send the JSON encoded as UTF-8',
    });
    expect(upstreamCount()).toBe(0);
  });

  it('reads a body that starts with a UTF-8 byte order mark as the JSON after it', async () => {
    const res = await post('/v1/chat/completions', Buffer.from(`\ufeff${chatText}`));
    expect(res.status).toBe(200);
    expect(openaiFake.requests.at(-1)!.raw.charCodeAt(0)).toBe('{'.charCodeAt(0));
    const onMessages = await post('/v1/messages', `\ufeff${JSON.stringify(messages)}`);
    expect(onMessages.status).toBe(200);
  });

  it('reads a body sent in pieces, a character split between two of them included', async () => {
    const bytes = Buffer.from(JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'café' }] }));
    const split = bytes.indexOf(Buffer.from('é')) + 1;
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      // No length: sent chunked, one piece a write.
      body: Readable.from(
        (async function* () {
          yield bytes.subarray(0, split);
          await new Promise((resolve) => setTimeout(resolve, 20));
          yield bytes.subarray(split);
        })(),
      ),
    });
    expect(res.statusCode).toBe(200);
    await res.body.text();
    expect(openaiFake.requests.at(-1)!.body).toMatchObject({ messages: [{ content: 'café' }] });
  });

  it('answers 415 to a transfer coding other than chunked, without undoing it', async () => {
    const gzipped = gzipSync(chatText);
    const sent = (coding: string, body: Buffer) =>
      Buffer.concat([
        Buffer.from(
          `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${CLIENT_KEY}\r\n` +
            `content-type: application/json\r\ntransfer-encoding: ${coding}\r\nconnection: close\r\n\r\n` +
            `${body.length.toString(16)}\r\n`,
        ),
        body,
        Buffer.from('\r\n0\r\n\r\n'),
      ]);
    for (const coding of ['gzip, chunked', 'deflate,chunked']) {
      const connection = await rawConnection(kw.dataUrl);
      connection.socket.write(sent(coding, gzipped));
      const answer = await connection.closed;
      expect(answer, coding).toMatch(/^HTTP\/1\.1 415 /);
      expect(answer, coding).toContain('"code":"unsupported_transfer_encoding"');
      expect(answer, coding).toContain('send the body without it');
    }
    // Plain JSON declared gzip-coded is refused too: the declared coding, not a guess, decides.
    const declared = await rawConnection(kw.dataUrl);
    declared.socket.write(sent('gzip, chunked', Buffer.from(chatText)));
    expect(await declared.closed).toMatch(/^HTTP\/1\.1 415 /);
    expect(upstreamCount()).toBe(0);
  });

  it('refuses a chunked body once it passes the size limit, and logs a client gone mid-body as 499', async () => {
    const head = (length: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${CLIENT_KEY}\r\n` +
      `content-type: application/json\r\n${length}\r\n\r\n`;
    const big = await rawConnection(kw.dataUrl, head('transfer-encoding: chunked'));
    const piece = `{"a":"${'x'.repeat(16 * 1024)}`;
    for (let i = 0; i < 5; i++) big.socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
    const answer = await big.waitFor('body_too_large');
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    big.socket.destroy();

    const gone = await rawConnection(kw.dataUrl, `${head('content-length: 1000')}{"model":`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    gone.socket.destroy();
    await expect
      .poll(() => kw.logs.some((line) => line.includes('"status":499') && line.includes('chat/completions')))
      .toBe(true);
    expect(upstreamCount()).toBe(0);
    // The gateway is still serving.
    expect((await post('/v1/chat/completions', chatText)).status).toBe(200);
  });

  it('names the limit to raise for a body nested too deep', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 20; i++) deep = { a: deep };
    const res = await post('/v1/chat/completions', JSON.stringify({ ...chat, metadata: deep }));
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({
      code: 'json_too_deep',
      message:
        'Request body is nested deeper than 16 levels; nest less, or the operator raises limits.jsonDepth',
    });
  });
});
