import { once } from 'node:events';
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_KEY, type Stack, startStack } from '../support/setup.js';

describe('strict request handling', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      config: {
        server: { bodyLimit: 64 * 1024, requestTimeoutMs: 300 },
        limits: { jsonDepth: 32, arrayItems: 1000, jsonValues: 5_000 },
      },
    });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  async function post(body: string, contentType = 'application/json', path = '/v1/chat/completions') {
    const res = await request(`${stack.kw.dataUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': contentType },
      body,
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, error: JSON.parse(text).error };
  }
  const chatBodyText = () => JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] });
  const chat = (extra: Record<string, unknown>) =>
    JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }], ...extra });

  it('refuses an unknown field, naming it, and sends nothing upstream', async () => {
    const top = await post(chat({ temprature: 0.2 }));
    expect(top.status).toBe(400);
    expect(top.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'unknown_field',
      param: 'temprature',
    });
    expect(top.error.message).toContain("'temprature'");

    const nested = await post(
      JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi', extra: 1 }] }),
    );
    expect(nested.status).toBe(400);
    expect(nested.error.param).toBe('messages[0].extra');
    expect(stack.fake.requests).toHaveLength(0);
  });

  it('refuses wrong types and ranges with the path and the expectation, never the value', async () => {
    const res = await post(chat({ temperature: 'sk-canary-in-wrong-field-123' }));
    expect(res.status).toBe(400);
    expect(res.error.param).toBe('temperature');
    expect(res.text).not.toContain('sk-canary');
    const range = await post(chat({ temperature: 7 }));
    expect(range.status).toBe(400);
    expect(range.error.param).toBe('temperature');
  });

  it.each([
    ['__proto__', '{"x":1}'],
    ['constructor', '{"prototype":{"x":1}}'],
  ])('refuses the key %s holding %s anywhere in the body, naming where', async (key, value) => {
    const tools = [
      {
        type: 'function',
        function: { name: 'f', parameters: JSON.parse(`{"type":"object","${key}":${value}}`) },
      },
    ];
    const res = await post(chat({ tools }));
    expect(res.status).toBe(400);
    expect(res.error).toMatchObject({
      code: 'forbidden_key',
      param: `tools[0].function.parameters.${key}`,
      message: expect.stringContaining(` at tools[0].function.parameters.${key}, `),
    });
    expect(stack.fake.requests).toHaveLength(0);
  });

  it('bounds nesting depth and array sizes', async () => {
    let deep: unknown = {};
    for (let i = 0; i < 40; i++) deep = { a: deep };
    const tooDeep = await post(
      chat({ tools: [{ type: 'function', function: { name: 'f', parameters: deep } }] }),
    );
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.error.code).toBe('json_too_deep');
    expect(tooDeep.error.message).toContain('limits.jsonDepth');

    const long = await post(chat({ stop: Array.from({ length: 1001 }, () => 'x') }));
    expect(long.status).toBe(400);
    expect(long.error).toMatchObject({ code: 'json_array_too_long', param: 'stop' });
    expect(long.error.message).toContain('limits.arrayItems');
  });

  it('refuses a body of more values than the limit before parsing it, whatever their shape', async () => {
    const keys = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [i.toString(16), '']));
    const wide = await post(chat({ metadata: keys }));
    expect(wide.status).toBe(400);
    expect(wide.error).toMatchObject({ code: 'json_too_many_values' });
    expect(wide.error.message).toContain('limits.jsonValues');
    // Short arrays of small objects: each array within arrayItems, all of them over the count.
    const rows = Array.from({ length: 10 }, () => Array.from({ length: 700 }, () => ({ a: 1 })));
    const scattered = await post(chat({ metadata: { rows } }));
    expect(scattered.status).toBe(400);
    expect(scattered.error.code).toBe('json_too_many_values');
    // The same bytes as one string are one value.
    const text = await post(chat({ messages: [{ role: 'user', content: '{a},['.repeat(6_000) }] }));
    expect(text.status).toBe(200);
  });

  it("counts a bounded object's entries before checking each of them", async () => {
    // Seventeen entries, each of the wrong type: the count is what is refused, and first.
    const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    const res = await post(chat({ metadata }));
    expect(res.status).toBe(400);
    expect(res.error.message).toContain('at most 16 entries');
    const bias = Object.fromEntries(Array.from({ length: 1_025 }, (_, i) => [String(i), 'high']));
    const biased = await post(chat({ logit_bias: bias }));
    expect(biased.status).toBe(400);
    expect(biased.error.message).toContain('at most 1024 entries');
  });

  it('answers 413 for a body over the limit, 400 for broken JSON, 415 for other media types', async () => {
    const big = await post(chat({ messages: [{ role: 'user', content: 'x'.repeat(70 * 1024) }] }));
    expect(big.status).toBe(413);
    expect(big.error).toMatchObject({ type: 'request_too_large', code: 'body_too_large' });
    expect(big.headers['x-request-id']).toBeTruthy();

    const broken = await post('{"model":');
    expect(broken.status).toBe(400);
    expect(broken.error.code).toBe('invalid_json');

    const form = await post('model=fast', 'application/x-www-form-urlencoded');
    expect(form.status).toBe(415);

    const notObject = await post('[1,2]');
    expect(notObject.status).toBe(400);
  });

  it('validates embeddings requests as strictly', async () => {
    const res = await post(
      JSON.stringify({ model: 'fast', input: 'x', encoding: 'float' }),
      'application/json',
      '/v1/embeddings',
    );
    expect(res.status).toBe(400);
    expect(res.error.param).toBe('encoding');
  });

  it('answers malformed HTTP in the same envelope', async () => {
    const { port } = new URL(stack.kw.dataUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GARBAGE / NOT-HTTP\r\n\r\n');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"code":"malformed_request"');
  });

  /** Sends a request's bytes as they are and reads the answer until the server closes. */
  async function rawExchange(
    url: string,
    head: string,
  ): Promise<{ status: number; headers: string; body: string }> {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.write(head);
    await once(socket, 'close');
    const end = answer.indexOf('\r\n\r\n');
    return {
      status: Number(answer.slice(9, 12)),
      headers: answer.slice(0, end).toLowerCase(),
      body: answer.slice(end + 4),
    };
  }

  it('answers an HTTP/1.1 request without Host in the envelope of its surface, not with a bare 400', async () => {
    const chat = chatBodyText();
    const openai = await rawExchange(
      stack.kw.dataUrl,
      `POST /v1/chat/completions HTTP/1.1\r\nConnection: close\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`,
    );
    expect(openai.status).toBe(400);
    expect(openai.headers).toContain('x-request-id: ');
    expect(JSON.parse(openai.body).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'missing_host',
    });
    expect(JSON.parse(openai.body).error.message).toContain('Host header');

    const anthropic = await rawExchange(
      stack.kw.dataUrl,
      'GET /v1/messages HTTP/1.1\r\nConnection: close\r\n\r\n',
    );
    expect(anthropic.status).toBe(400);
    expect(JSON.parse(anthropic.body)).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error' },
    });

    const admin = await rawExchange(
      stack.kw.adminUrl,
      'GET /admin/keys HTTP/1.1\r\nConnection: close\r\n\r\n',
    );
    expect(admin.status).toBe(400);
    expect(JSON.parse(admin.body).error.code).toBe('missing_host');

    // HTTP/1.0 has no Host requirement: the request goes on to be judged by its credential.
    const old = await rawExchange(stack.kw.dataUrl, 'GET /v1/models HTTP/1.0\r\n\r\n');
    expect(old.status).toBe(401);
    expect(stack.fake.requests).toHaveLength(0);
  });

  it('refuses an expectation other than 100-continue in the envelope, and meets 100-continue', async () => {
    const chat = chatBodyText();
    const head = (expectation: string) =>
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${CLIENT_KEY}\r\n` +
      `Content-Type: application/json\r\nExpect: ${expectation}\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`;
    const odd = await rawExchange(stack.kw.dataUrl, head('the-moon'));
    expect(odd.status).toBe(417);
    expect(odd.headers).toContain('x-request-id: ');
    expect(JSON.parse(odd.body).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'expectation_failed',
    });
    expect(stack.fake.requests).toHaveLength(0);

    const admin = await rawExchange(
      stack.kw.adminUrl,
      'GET /admin/keys HTTP/1.1\r\nHost: x\r\nExpect: the-moon\r\nConnection: close\r\n\r\n',
    );
    expect(admin.status).toBe(417);
    expect(JSON.parse(admin.body).error.code).toBe('expectation_failed');

    // What Node takes for 100-continue it has told the client to send already: it is served.
    for (const expectation of ['100-continue', '100-Continue', '100-continue, foo'])
      expect((await rawExchange(stack.kw.dataUrl, head(expectation))).body).toMatch(/^HTTP\/1\.1 200 /);
    const twice = head('100-continue').replace(
      'Expect: 100-continue',
      'Expect: 100-continue\r\nExpect: 100-continue',
    );
    const continued = await rawExchange(stack.kw.dataUrl, twice);
    expect(continued.status).toBe(100);
    expect(continued.body).toMatch(/^HTTP\/1\.1 200 /);
    expect(stack.fake.requests).toHaveLength(4);
  });

  it('drops a client that is too slow to send its request with 408', async () => {
    const { port } = new URL(stack.kw.dataUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${CLIENT_KEY}\r\nContent-Length: 100\r\n\r\n{`,
    );
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    const started = Date.now();
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'request_timeout',
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stack.fake.requests).toHaveLength(0);
  });
});
