import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CLIENT_KEY, PROVIDER_KEY, type Stack, startStack } from '../support/setup.js';

/** Fields that differ between two calls by nature (ids, clocks). */
function stable<T extends { id?: unknown; created?: unknown }>(value: T): Omit<T, 'id' | 'created'> {
  const { id: _id, created: _created, ...rest } = value;
  return rest;
}

describe('OpenAI surface through the official SDK', () => {
  let stack: Stack;
  let viaGateway: OpenAI;
  let direct: OpenAI;

  beforeAll(async () => {
    stack = await startStack();
    viaGateway = new OpenAI({ baseURL: `${stack.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    direct = new OpenAI({ baseURL: `${stack.fake.url}/v1`, apiKey: PROVIDER_KEY, maxRetries: 0 });
  });
  afterAll(() => stack.close());
  beforeEach(() => stack.fake.reset());

  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hello there' },
  ];

  it('answers a chat completion exactly as the provider does, with the alias resolved upstream', async () => {
    const got = await viaGateway.chat.completions.create({ model: 'fast', messages });
    const want = await direct.chat.completions.create({ model: 'gpt-4o-mini', messages });
    expect(stable(got)).toEqual(stable(want));
    expect(got.usage?.total_tokens).toBeGreaterThan(0);

    const upstream = stack.fake.requests[0]!;
    expect(upstream.url).toBe('/v1/chat/completions');
    expect(upstream.body).toEqual({ model: 'gpt-4o-mini', messages });
  });

  it('streams chunk by chunk and reaches the same final message as a direct call', async () => {
    const params = {
      messages,
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const collect = async (client: OpenAI, model: string) => {
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let chunks = 0;
      for await (const chunk of await client.chat.completions.create({ ...params, model })) {
        chunks++;
        text += chunk.choices[0]?.delta.content ?? '';
        usage = chunk.usage ?? usage;
      }
      return { text, usage, chunks };
    };
    const got = await collect(viaGateway, 'fast');
    const want = await collect(direct, 'gpt-4o-mini');
    expect(got).toEqual(want);
    expect(got.chunks).toBeGreaterThan(2);
    expect(got.usage?.total_tokens).toBeGreaterThan(0);

    const final = await viaGateway.chat.completions
      .stream({ ...params, model: 'fast' })
      .finalChatCompletion();
    expect(final.choices[0]?.message.content).toBe(want.text);
    expect(final.choices[0]?.finish_reason).toBe('stop');
  });

  it('asks OpenAI for stream usage on every stream, without showing the client a chunk it did not ask for', async () => {
    stack.kw.logs.length = 0;
    const collect = async (client: OpenAI, model: string) => {
      const all: OpenAI.ChatCompletionChunk[] = [];
      for await (const chunk of await client.chat.completions.create({ model, messages, stream: true })) {
        all.push(chunk);
      }
      return all;
    };
    const chunks = await collect(viaGateway, 'fast');
    const directChunks = await collect(direct, 'gpt-4o-mini');
    expect(chunks).toHaveLength(directChunks.length);
    expect(chunks.every((c) => c.choices.length === 1)).toBe(true);
    const text = (list: OpenAI.ChatCompletionChunk[]) =>
      list.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text(chunks)).toBe(text(directChunks));

    expect(stack.fake.requests[0]?.body).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
    const line = stack.kw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.route);
    expect(line?.tokens).toEqual({ inputTokens: expect.any(Number), outputTokens: expect.any(Number) });
  });

  it('carries tool definitions and parallel-capable tool calls, streaming and not', async () => {
    const tools: OpenAI.ChatCompletionTool[] = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          strict: true,
        },
      },
    ];
    const ask: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What is the weather in Paris?' },
    ];
    const got = await viaGateway.chat.completions.create({
      model: 'fast',
      messages: ask,
      tools,
      tool_choice: 'auto',
    });
    const want = await direct.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: ask,
      tools,
      tool_choice: 'auto',
    });
    expect(stable(got)).toEqual(stable(want));
    expect(got.choices[0]?.finish_reason).toBe('tool_calls');
    const call = got.choices[0]?.message.tool_calls?.[0];
    expect(call?.type).toBe('function');

    const streamed = await viaGateway.chat.completions
      .stream({ model: 'fast', messages: ask, tools, stream: true })
      .finalChatCompletion();
    // The SDK's stream helper adds `parsed_arguments`; the wire fields must match the direct call.
    expect(streamed.choices[0]?.message.tool_calls).toMatchObject(want.choices[0]!.message.tool_calls!);
    expect(streamed.choices[0]?.finish_reason).toBe('tool_calls');

    const followUp = await viaGateway.chat.completions.create({
      model: 'fast',
      messages: [
        ...ask,
        { role: 'assistant', content: null, tool_calls: got.choices[0]!.message.tool_calls! },
        { role: 'tool', tool_call_id: call!.id, content: '{"temp_c":18}' },
      ],
      tools,
    });
    expect(followUp.choices[0]?.message.role).toBe('assistant');
  });

  it('passes embeddings through, float and base64', async () => {
    for (const encoding_format of ['float', 'base64'] as const) {
      const got = await viaGateway.embeddings.create({
        model: 'fake/text-embedding-3-small',
        input: ['a', 'b'],
        encoding_format,
      });
      const want = await direct.embeddings.create({
        model: 'text-embedding-3-small',
        input: ['a', 'b'],
        encoding_format,
      });
      expect(got).toEqual(want);
    }
    expect(stack.fake.requests[0]?.body).toMatchObject({ model: 'text-embedding-3-small' });
  });

  it('routes provider/model names and lists the aliases and the provider’s models', async () => {
    await viaGateway.chat.completions.create({ model: 'fake/gpt-4o', messages });
    expect(stack.fake.requests[0]?.body).toMatchObject({ model: 'gpt-4o' });
    const models = await viaGateway.models.list();
    expect(models.data.map((m) => [m.id, m.owned_by])).toEqual([
      ['fast', 'fake'],
      ['fake/gpt-4o-mini', 'fake'],
    ]);
  });

  it('answers an unknown model with 404 model_not_found and sends nothing upstream', async () => {
    const error = await viaGateway.chat.completions
      .create({ model: 'nope', messages })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const viaUnknownProvider = await viaGateway.chat.completions
      .create({ model: 'elsewhere/gpt-4o', messages })
      .catch((e: unknown) => e);
    expect(viaUnknownProvider).toBeInstanceOf(OpenAI.NotFoundError);
    expect(stack.fake.requests).toHaveLength(0);
  });

  it('sends upstream only the provider key and an allowlist of headers', async () => {
    const { statusCode } = await request(`${stack.kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${CLIENT_KEY}`,
        cookie: 'session=abc',
        'x-forwarded-for': '10.0.0.1',
        'x-forwarded-host': 'evil.example',
        'x-real-ip': '10.0.0.2',
        forwarded: 'for=10.0.0.3',
        'openai-organization': 'org-client',
        'x-custom': 'client-value',
        'proxy-authorization': 'Basic Zm9vOmJhcg==',
        te: 'trailers',
      },
      body: JSON.stringify({ model: 'fast', messages }),
    });
    expect(statusCode).toBe(200);
    const headers = stack.fake.requests[0]!.headers;
    expect(headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
    const names = Object.keys(headers).sort();
    // x-keyward-via names the gateway, for loop detection (src/upstream/via.ts).
    expect(names).toEqual(
      [
        'accept',
        // identity: the gateway reads answers as they come (provider-answer-framing.test.ts).
        'accept-encoding',
        'authorization',
        'connection',
        'content-length',
        'content-type',
        'host',
        'x-keyward-via',
      ].sort(),
    );
    expect(headers['x-keyward-via']).toMatch(/^[0-9a-f]{16}$/);
    expect(headers['accept-encoding']).toBe('identity');
    expect(JSON.stringify(headers)).not.toContain(CLIENT_KEY);
  });

  it('gives every response an x-request-id, keeping a sane inbound one', async () => {
    const sane = await request(`${stack.kw.dataUrl}/v1/models`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-request-id': 'trace-123.abc' },
    });
    expect(sane.headers['x-request-id']).toBe('trace-123.abc');
    await sane.body.dump();
    const insane = await request(`${stack.kw.dataUrl}/v1/models`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'x-request-id': 'x'.repeat(300) },
    });
    expect(insane.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    await insane.body.dump();
    for (const [path, auth] of [
      ['/v1/models', undefined],
      ['/nowhere', CLIENT_KEY],
      ['/health', undefined],
    ] as const) {
      const res = await request(`${stack.kw.dataUrl}${path}`, {
        headers: auth ? { authorization: `Bearer ${auth}` } : {},
      });
      expect(res.headers['x-request-id'], path).toBeTruthy();
      await res.body.dump();
    }
  });

  it('logs one redacted line per request with the fields operators need', async () => {
    stack.kw.logs.length = 0;
    await viaGateway.chat.completions.create({ model: 'fast', messages });
    const lines = stack.kw.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.route);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      method: 'POST',
      route: '/v1/chat/completions',
      model: 'fast',
      provider: 'fake',
      status: 200,
      attempts: 1,
      tokens: { inputTokens: expect.any(Number), outputTokens: expect.any(Number) },
    });
    expect(lines[0]?.client).toMatch(/^(?:[A-Za-z]{1,3}-)?….{4} \[#[0-9a-f]{8}\]$/);
    expect(typeof lines[0]?.ms).toBe('number');
  });
});
