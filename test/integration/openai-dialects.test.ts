import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { APIError } from 'openai';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * What servers of the OpenAI format do differently from OpenAI, and what the gateway makes of it:
 * OpenRouter's 200 answers that are errors, Azure's `retry-after-ms`, its content filter chunks
 * and its older api-versions, usage written by Python servers or inside Groq's `x_groq`, and
 * chunks carrying `"error": null`.
 */

const KEY_A = 'sk-router-key-aaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-router-key-bbbbbbbbbbbbbbbbbbbb2222';
const SECRET_WORDS = ['DeepInfra', 'sk-or-INTERNAL', 'acme-internal', 'Provider returned error', 'user_2abc'];

/** OpenRouter's answer when the model's own provider failed after OpenRouter took the request. */
function routerError(code: number) {
  return {
    status: 200,
    body: {
      error: {
        code,
        message: 'Provider returned error',
        metadata: {
          raw: 'key sk-or-INTERNAL on org acme-internal is rate limited',
          provider_name: 'DeepInfra',
        },
      },
      user_id: 'user_2abc',
    },
  };
}

/** A stream answered exactly as `events` (each a JSON text), then `data: [DONE]` unless `done` is false. */
function sse(events: string[], done = true) {
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream' },
    body: events.map((event) => `data: ${event}\n\n`).join('') + (done ? 'data: [DONE]\n\n' : ''),
  };
}

const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hi' }];

describe('OpenAI-format dialects', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;
  let client: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY, KEY_A, KEY_B], requireAuth: false });
    const azure = (id: string, apiVersion: string) => ({
      id,
      type: 'azure-openai' as const,
      baseUrl: `${fake.url}/openai`,
      apiVersion,
      keys: { env: 'AZURE_KEY' },
      retries: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 200 },
    });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          azure('azure', '2024-10-21'),
          azure('azure-old', '2024-06-01'),
          azure('azure-preview', '2024-09-01-preview'),
          {
            id: 'router',
            type: 'openai-compatible',
            baseUrl: `${fake.url}/v1`,
            keys: { env: 'ROUTER_KEYS' },
            retries: { maxAttempts: 1 },
          },
          {
            id: 'solo',
            type: 'openai-compatible',
            baseUrl: `${fake.url}/v1`,
            keys: { env: 'SOLO_KEY' },
            retries: { maxAttempts: 1 },
          },
          {
            id: 'local',
            type: 'openai-compatible',
            baseUrl: `${fake.url}/v1`,
            retries: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 1000 },
          },
        ],
        models: [
          { name: 'resilient', provider: 'solo', model: 'm', fallbacks: [{ provider: 'local', model: 'm' }] },
        ],
        pricing: { m: { input: 1, output: 2 } },
      },
      {
        KEYWARD_API_KEY: CLIENT_KEY,
        KEYWARD_ADMIN_KEY: ADMIN_KEY,
        AZURE_KEY: PROVIDER_KEY,
        ROUTER_KEYS: `${KEY_A},${KEY_B}`,
        SOLO_KEY: KEY_A,
      },
    );
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });
  afterEach(() => fake.reset());

  async function chat(body: Record<string, unknown>, token = CLIENT_KEY) {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messages, ...body }),
    });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  /** A token held to a budget, so its usage row is one case's alone. */
  async function budgeted(name: string): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name,
      budget: { usd: 100, period: 'day' },
    });
    expect(res.status).toBe(201);
    return res.json;
  }

  const usageOf = async (tokenId: string) =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0];

  const upstreamBody = (index: number) => fake.requests[index]?.body as Record<string, unknown>;

  describe('a 200 answer whose body is an error (OpenRouter)', () => {
    it('is the error its code names, without the provider’s words', async () => {
      fake.script(routerError(429));
      const error = await client.chat.completions
        .create({ model: 'solo/m-plain', messages })
        .catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(APIError);
      expect((error as APIError).status).toBe(429);
      const text = JSON.stringify((error as APIError).error);
      for (const word of SECRET_WORDS) expect(text).not.toContain(word);
    });

    it('is the same error to a streaming request and through translation', async () => {
      fake.script(routerError(429));
      const streamed = await client.chat.completions
        .create({ model: 'solo/m-stream', messages, stream: true })
        .catch((thrown: unknown) => thrown);
      expect((streamed as APIError).status).toBe(429);
      fake.script(routerError(429));
      const translated = await anthropic.messages
        .create({ model: 'solo/m-translated', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] })
        .catch((thrown: unknown) => thrown);
      expect(translated).toBeInstanceOf(Anthropic.RateLimitError);
      for (const word of SECRET_WORDS) expect(JSON.stringify(translated)).not.toContain(word);
    });

    it('cools the key a 429 names and moves the request to the next key', async () => {
      fake.whenKey(KEY_A, routerError(429));
      try {
        for (let i = 0; i < 4; i++) {
          const reply = await client.chat.completions.create({ model: 'router/m', messages });
          expect(reply.choices[0]?.message.content).toContain('Hello from the fake provider');
        }
        const keys = fake.requests.map((r) => String(r.headers.authorization).slice('Bearer '.length));
        expect(keys.filter((key) => key === KEY_A)).toHaveLength(1);
      } finally {
        fake.whenKey(KEY_A, undefined);
      }
    });

    it('falls back to the next target on a 5xx it names', async () => {
      fake.script(routerError(502));
      const reply = await client.chat.completions.create({ model: 'resilient', messages });
      expect(reply.choices[0]?.message.content).toContain('Hello from the fake provider');
      expect(fake.requests).toHaveLength(2);
      expect(fake.requests[1]?.headers.authorization).toBeUndefined();
    });
  });

  describe("Azure's retry-after-ms", () => {
    it.each([
      ['retry-after-ms', '3000', '3'],
      ['x-ms-retry-after-ms', '5000', '5'],
    ])('cools the key for %s and tells the client', async (header, value, seconds) => {
      fake.script({
        status: 429,
        headers: { [header]: value, 'retry-after': '60' },
        body: {
          error: {
            code: '429',
            message: 'Requests to the ChatCompletions_Create Operation have exceeded token rate limit.',
          },
        },
      });
      const res = await chat({ model: `azure/limited-${header}` });
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe(seconds);
      expect(fake.requests).toHaveLength(1);
    });

    it('waits as long as it asks before trying again, and answers at once when that is too long', async () => {
      fake.script({ status: 429, headers: { 'retry-after-ms': '300' } });
      const started = Date.now();
      expect((await chat({ model: 'local/m' })).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(fake.requests).toHaveLength(2);
      fake.reset();
      fake.script({ status: 429, headers: { 'retry-after-ms': '5000' } });
      expect((await chat({ model: 'local/m' })).status).toBe(429);
      expect(fake.requests).toHaveLength(1);
    });
  });

  describe("Azure's content filter annotations", () => {
    it('never reach the client: no chunk without choices, no filter results', async () => {
      const stream = await client.chat.completions.create({ model: 'azure/gpt-4o', messages, stream: true });
      let text = '';
      for await (const chunk of stream) {
        expect(chunk.choices[0]).toBeDefined();
        expect(JSON.stringify(chunk)).not.toContain('filter_results');
        text += chunk.choices[0]?.delta.content ?? '';
      }
      expect(text).toContain('Hello from the fake provider');
    });

    it('keep the usage chunk a client asked for', async () => {
      const res = await chat({
        model: 'azure/gpt-4o',
        stream: true,
        stream_options: { include_usage: true },
      });
      expect(res.text).not.toContain('filter_results');
      const chunks = res.text
        .split('\n\n')
        .filter((event) => event.startsWith('data: {'))
        .map((event) => JSON.parse(event.slice(6)) as { choices: unknown[]; usage?: unknown });
      expect(chunks.filter((chunk) => chunk.choices.length === 0)).toEqual([
        expect.objectContaining({ usage: expect.objectContaining({ prompt_tokens: expect.any(Number) }) }),
      ]);
    });
  });

  describe('Azure api-versions before stream_options', () => {
    it('are sent max_tokens and no stream_options, relayed and translated', async () => {
      const stream = await client.chat.completions.create({
        model: 'azure-old/gpt-4o',
        messages,
        stream: true,
        max_completion_tokens: 50,
      });
      let text = '';
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      expect(text).toContain('Hello from the fake provider');
      const message = await anthropic.messages
        .stream({ model: 'azure-old/gpt-4o', max_tokens: 60, messages: [{ role: 'user', content: 'Hi' }] })
        .finalMessage();
      expect(message.content[0]).toMatchObject({ type: 'text' });
      for (const [index, limit] of [
        [0, 50],
        [1, 60],
      ] as const) {
        expect(upstreamBody(index)).not.toHaveProperty('stream_options');
        expect(upstreamBody(index)).not.toHaveProperty('max_completion_tokens');
        expect(upstreamBody(index).max_tokens).toBe(limit);
      }
      expect(fake.requests[0]?.url).toContain('api-version=2024-06-01');
    });

    it('end at 2024-09-01-preview and, in GA, 2024-10-21', async () => {
      for (const provider of ['azure-preview', 'azure']) {
        const stream = await client.chat.completions.create({
          model: `${provider}/gpt-4o`,
          messages,
          stream: true,
          max_completion_tokens: 50,
        });
        let chunks = 0;
        for await (const _chunk of stream) chunks++;
        expect(chunks).toBeGreaterThan(0);
      }
      for (const index of [0, 1]) {
        expect(upstreamBody(index).stream_options).toEqual({ include_usage: true });
        expect(upstreamBody(index).max_completion_tokens).toBe(50);
      }
    });

    it('are refused at load unless dated', () => {
      const parsed = configSchema.safeParse({
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'az',
            type: 'azure-openai',
            baseUrl: 'https://r.openai.azure.com/openai',
            apiVersion: 'latest',
            keys: { env: 'K' },
          },
        ],
      });
      expect(parsed.success).toBe(false);
      expect(JSON.stringify(parsed.error?.issues)).toContain('2025-04-01-preview');
    });
  });

  describe('usage as servers other than OpenAI write it', () => {
    const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [{ index: 0, ...choice }],
        ...extra,
      });

    it.each(['/v1/chat/completions', '/v1/messages'])(
      'is read from a Python server’s JSON (`"usage": {`) and from Groq’s x_groq (%s)',
      async (path) => {
        // Python's json.dumps puts a space after every colon.
        const python = sse([
          '{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": null}]}',
          '{"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}}',
        ]);
        const groq = sse([
          chunk({ delta: { content: 'ok' }, finish_reason: null }),
          chunk(
            { delta: {}, finish_reason: 'stop' },
            {
              x_groq: {
                id: 'req_1',
                usage: { queue_time: 0.01, prompt_tokens: 9, completion_tokens: 8, total_tokens: 17 },
              },
            },
          ),
        ]);
        for (const [name, answer, input, output] of [
          ['python', python, 7, 3],
          ['groq', groq, 9, 8],
        ] as const) {
          const token = await budgeted(`usage-${name}-${path}`);
          fake.script(answer);
          const res = await request(`${kw.dataUrl}${path}`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${token.token}`,
              'content-type': 'application/json',
              'anthropic-version': '2023-06-01',
            },
            body: JSON.stringify({ model: 'local/m', max_tokens: 300, stream: true, messages }),
          });
          expect(await res.body.text()).not.toContain('error');
          await expect
            .poll(() => usageOf(token.id), { timeout: 5000 })
            .toEqual(expect.objectContaining({ requests: 1, inputTokens: input, outputTokens: output }));
        }
      },
    );
  });

  it.each([
    ['without index, an id on every chunk (Gemini, SGLang, mistral.rs)', (_: number) => ({})],
    ['every call at index 0, each with its own id (Ollama)', (_: number) => ({ index: 0 })],
  ])('numbers streamed tool calls as OpenAI does: %s', async (_name, numbering) => {
    const call = (n: number, id: string, name: string | undefined, args: string) =>
      JSON.stringify({
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'm',
        choices: [
          {
            index: 0,
            delta: {
              ...(id === 'call_a' && name !== undefined ? { role: 'assistant' } : {}),
              tool_calls: [
                {
                  ...numbering(n),
                  id,
                  type: 'function',
                  function: { ...(name === undefined ? {} : { name }), arguments: args },
                },
              ],
            },
            finish_reason: null,
          },
        ],
      });
    fake.script(
      sse(
        [
          call(0, 'call_a', 'get_weather', '{"city":'),
          call(0, 'call_a', undefined, '"Paris"}'),
          call(1, 'call_b', 'get_time', '{"tz":"Europe/Paris"}'),
          '{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
        ],
        false,
      ),
    );
    const tool = (name: string): OpenAI.ChatCompletionTool => ({
      type: 'function',
      function: { name, parameters: { type: 'object', properties: {} } },
    });
    const stream = client.chat.completions.stream({
      model: 'local/m',
      messages,
      tools: [tool('get_weather'), tool('get_time')],
    });
    const answer = await stream.finalChatCompletion();
    expect(answer.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
      { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{"tz":"Europe/Paris"}' } },
    ]);
  });

  it('takes a chunk whose `error` is null for the chunk it is', async () => {
    fake.script(
      sse([
        '{"id":"c1","object":"chat.completion.chunk","error":null,"choices":[{"index":0,"delta":{"content":"fine"},"finish_reason":null}]}',
        '{"error":null,"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}',
      ]),
    );
    const stream = await client.chat.completions.create({ model: 'local/m', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('fine');
  });
});
