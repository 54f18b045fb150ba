import OpenAI from 'openai';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CLOSED_PORT } from '../support/closed-port.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY, type Stack, startStack } from '../support/setup.js';
import { hasPython, startUnacceptingPort } from '../support/unaccepting-port.js';

const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hello' }];

function sdk(stack: Stack): OpenAI {
  return new OpenAI({ baseURL: `${stack.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
}

async function chat(stack: Stack, body: Record<string, unknown> = {}) {
  const res = await request(`${stack.kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages, ...body }),
  });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    text,
    json: text.startsWith('{') ? JSON.parse(text) : undefined,
  };
}

const PROVIDER_MESSAGE_FRAGMENT = 'Incorrect API key';

describe('upstream faults', () => {
  let stack: Stack;
  afterEach(() => stack?.close());

  it('retries a 429 after its Retry-After and succeeds', async () => {
    stack = await startStack();
    stack.fake.script({ status: 429, headers: { 'retry-after': '0' } }, { status: 503 });
    const res = await chat(stack);
    expect(res.status).toBe(200);
    expect(stack.fake.requests).toHaveLength(3);
    const metrics = await stack.kw.gateway.metrics.render();
    expect(metrics).toMatch(/keyward_upstream_retries_total\{provider="fake",reason="429"\} 1/);
    expect(metrics).toMatch(/keyward_upstream_retries_total\{provider="fake",reason="503"\} 1/);
  });

  it('gives up after maxAttempts and maps 5xx to 502 (503 to overloaded) without the provider text', async () => {
    stack = await startStack();
    const body = { error: { message: 'internal host db-7.corp failed', type: 'server_error', code: null } };
    stack.fake.script({ status: 502, body }, { status: 502, body }, { status: 502, body });
    const res = await chat(stack);
    expect(res.status).toBe(502);
    expect(stack.fake.requests).toHaveLength(3);
    expect(res.json.error).toMatchObject({ type: 'upstream_error', code: 'provider_error' });
    expect(res.text).not.toContain('db-7');
    stack.fake.reset();
    stack.fake.script({ status: 503, body }, { status: 503, body }, { status: 503, body });
    const overloaded = await chat(stack);
    expect(overloaded.status).toBe(503);
    expect(overloaded.json.error).toMatchObject({ type: 'service_unavailable', code: 'provider_overloaded' });
    expect(overloaded.text).not.toContain('db-7');
    const nonRetryable = { status: 500, body };
    stack.fake.reset();
    stack.fake.script(nonRetryable);
    expect((await chat(stack)).status).toBe(502);
    expect(stack.fake.requests).toHaveLength(1);
  });

  it('answers 429 with Retry-After at once when the provider asks for a longer wait than allowed', async () => {
    stack = await startStack();
    stack.fake.script({ status: 429, headers: { 'retry-after': '30' } });
    const res = await chat(stack);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('30');
    expect(res.json.error.code).toBe('provider_keys_cooling');
    expect(res.json.error.message).toContain('All provider keys are cooling down');
    expect(stack.fake.requests).toHaveLength(1);
  });

  it('answers 503 once the provider refuses its only key (401), never forwarding its body', async () => {
    stack = await startStack({ env: { FAKE_PROVIDER_KEY: 'sk-wrong-key-but-long-enough-123' } });
    const error = await sdk(stack)
      .chat.completions.create({ model: 'fast', messages })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503);
    expect((error as Error).message).toContain('refused every key');
    expect((error as Error).message).not.toContain(PROVIDER_MESSAGE_FRAGMENT);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('provider_keys_invalid');
  });

  it('passes a provider 400 on with its code and param only', async () => {
    stack = await startStack();
    stack.fake.script({
      status: 400,
      body: {
        error: {
          message: 'Invalid value for temperature: sk-secretish',
          type: 'invalid_request_error',
          param: 'temperature',
          code: 'invalid_value',
        },
      },
    });
    const res = await chat(stack);
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({
      message: "The provider rejected the request (HTTP 400): invalid_value (param 'temperature')",
      type: 'invalid_request_error',
      code: 'invalid_value',
      param: 'temperature',
    });
  });

  it('times out waiting for the first byte with 504 and does not retry', async () => {
    stack = await startStack({ provider: { timeouts: { firstByteMs: 150 } } });
    stack.fake.script({ delayHeadersMs: 2000 });
    const res = await chat(stack);
    expect(res.status).toBe(504);
    expect(res.json.error.code).toBe('provider_timeout');
    expect(stack.fake.requests).toHaveLength(1);
  });

  it.skipIf(!hasPython)(
    'times out a connection that never completes, retries it, then answers 504 (needs python3: apt-get install python3)',
    async () => {
      const blackhole = await startUnacceptingPort();
      try {
        stack = await startStack({
          provider: {
            baseUrl: `http://127.0.0.1:${blackhole.port}/v1`,
            timeouts: { connectMs: 150 },
            retries: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5 },
          },
        });
        const res = await chat(stack);
        expect(res.status).toBe(504);
        expect(res.json.error.code).toBe('provider_timeout');
        const metrics = await stack.kw.gateway.metrics.render();
        expect(metrics).toMatch(/keyward_upstream_retries_total\{provider="fake",reason="timeout"\} 1/);
      } finally {
        blackhole.close();
      }
    },
  );

  it('enforces the total deadline across retries', async () => {
    stack = await startStack({
      provider: {
        timeouts: { totalMs: 300 },
        retries: { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 200 },
      },
    });
    stack.fake.script(...Array.from({ length: 10 }, () => ({ status: 503 })));
    const started = Date.now();
    const res = await chat(stack);
    expect([503, 504]).toContain(res.status);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(stack.fake.requests.length).toBeLessThan(10);
  });

  it('retries a dropped connection and succeeds', async () => {
    stack = await startStack();
    stack.fake.script({ destroy: true });
    const res = await chat(stack);
    expect(res.status).toBe(200);
    expect(stack.fake.requests).toHaveLength(2);
  });

  it('answers 502 provider_unreachable when nothing listens', async () => {
    const port = CLOSED_PORT;
    stack = await startStack({ provider: { baseUrl: `http://127.0.0.1:${port}/v1` } });
    const res = await chat(stack);
    expect(res.status).toBe(502);
    expect(res.json.error.code).toBe('provider_unreachable');
    expect(res.text).not.toContain(String(port));
  });

  it('ends a stream cut mid-way with an error the SDK raises, never a clean finish', async () => {
    stack = await startStack();
    for (const step of [{ cutAfterChunks: 2 }, { endAfterChunks: 2 }]) {
      stack.fake.script(step);
      let text = '';
      const consume = async () => {
        for await (const chunk of await sdk(stack).chat.completions.create({
          model: 'fast',
          messages,
          stream: true,
        })) {
          text += chunk.choices[0]?.delta.content ?? '';
        }
      };
      const error = await consume().catch((e: unknown) => e);
      expect(error, JSON.stringify(step)).toBeInstanceOf(OpenAI.APIError);
      expect((error as Error).message).toContain('ended before it finished');
      expect(text.length).toBeGreaterThan(0);
    }
    const metrics = await stack.kw.gateway.metrics.render();
    expect(metrics).toMatch(/keyward_stream_errors_total\{provider="fake",reason="cut"\} 1/);
    expect(metrics).toMatch(/keyward_stream_errors_total\{provider="fake",reason="incomplete"\} 1/);
  });

  it('ends a stream that goes silent past the idle timeout with an error event', async () => {
    stack = await startStack({ provider: { timeouts: { idleMs: 150 } } });
    stack.fake.script({ chunkDelayMs: 1000 });
    const res = await chat(stack, { stream: true });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/data: \{"error":\{"message":"The provider's stream ended before it finished/);
    expect(res.text).not.toContain('[DONE]');
  });

  it.each([
    ['alone', '{"error":{"message":"shard sk-leaky-123 exploded"}}'],
    // As servers imitating the API send it: beside a chunk's other fields.
    [
      'in a chunk',
      '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"error":{"message":"shard sk-leaky-123 exploded"}}',
    ],
  ])('replaces an error event inside the provider stream with its own (%s)', async (_case, event) => {
    stack = await startStack();
    stack.fake.script({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: `data: ${event}\n\n`,
    });
    const res = await chat(stack, { stream: true });
    expect(res.text).toContain('"code":"provider_error"');
    expect(res.text).not.toContain('shard');
  });

  it('aborts the upstream request as soon as the client disconnects', async () => {
    stack = await startStack();
    stack.fake.script({ chunkDelayMs: 200 });
    const controller = new AbortController();
    const res = await request(`${stack.kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages, stream: true }),
      signal: controller.signal,
    });
    expect(res.statusCode).toBe(200);
    controller.abort();
    await res.body.dump().catch(() => undefined);
    await expect.poll(() => stack.fake.requests[0]?.aborted, { timeout: 2000, interval: 20 }).toBe(true);

    stack.fake.script({ delayHeadersMs: 3000 });
    const waiting = new AbortController();
    const pending = request(`${stack.kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'fast', messages }),
      signal: waiting.signal,
    }).catch(() => undefined);
    await stack.fake.waitForRequests(2);
    waiting.abort();
    await pending;
    await expect.poll(() => stack.fake.requests[1]?.aborted, { timeout: 2000, interval: 20 }).toBe(true);
  });
});

describe('fallbacks', () => {
  let gateway: TestGateway | undefined;
  const fakes: Array<Awaited<ReturnType<typeof startFakeOpenAI>>> = [];
  afterEach(async () => {
    await gateway?.close();
    await Promise.all(fakes.splice(0).map((f) => f.close()));
  });

  it('falls back to the next target before the first byte, streaming included', async () => {
    const primary = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const secondary = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    fakes.push(primary, secondary);
    const provider = (id: string, url: string) => ({
      id,
      type: 'openai' as const,
      baseUrl: `${url}/v1`,
      keys: { env: 'FAKE_PROVIDER_KEY' },
      retries: { maxAttempts: 1 },
    });
    gateway = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [provider('primary', primary.url), provider('secondary', secondary.url)],
        models: [
          {
            name: 'fast',
            provider: 'primary',
            model: 'a',
            fallbacks: [{ provider: 'secondary', model: 'b' }],
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, FAKE_PROVIDER_KEY: PROVIDER_KEY },
    );
    const client = new OpenAI({ baseURL: `${gateway.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });

    primary.script({ status: 503 });
    const plain = await client.chat.completions.create({ model: 'fast', messages });
    expect(plain.model).toBe('b');

    // A request the provider refuses as invalid is the client's problem: no fallback.
    primary.script({
      status: 400,
      body: { error: { message: 'bad', type: 'invalid_request_error', code: 'x' } },
    });
    await expect(client.chat.completions.create({ model: 'fast', messages })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
    expect(secondary.requests).toHaveLength(1);

    primary.script({ status: 429, headers: { 'retry-after': '60' } });
    const final = await client.chat.completions
      .stream({ model: 'fast', messages, stream: true })
      .finalChatCompletion();
    expect(final.choices[0]?.finish_reason).toBe('stop');
    expect(secondary.requests.map((r) => (r.body as { model: string }).model)).toEqual(['b', 'b']);

    expect(secondary.requests).toHaveLength(2);
  });
});
