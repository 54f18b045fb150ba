import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider, RecordedRequest } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING, WEATHER_ANSWER } from '../support/weather-scripts.js';

/**
 * Fields of the current Responses API (openai-node 7.x types) through the official SDK: list
 * routes' `include` as the SDK writes it, nulls in a tool output's parts, the no-op values of newer
 * fields, refusals by name of what needs OpenAI's own state or runtime, and OpenAI's own settings
 * carried to OpenAI-format providers.
 */

type Params = OpenAI.Responses.ResponseCreateParamsNonStreaming;

const weatherTool: OpenAI.Responses.FunctionTool = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  strict: false,
};

const call = {
  type: 'function_call',
  call_id: 'call_w1',
  name: 'get_weather',
  arguments: '{"city":"Paris"}',
};

const upstream = (fake: FakeProvider): RecordedRequest | undefined => fake.requests.at(-1);
const upstreamBody = (fake: FakeProvider) => upstream(fake)?.body as Record<string, unknown>;

describe('openai SDK Responses API: current fields through Keyward', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  it('lists input items and conversation items with include, which the SDK sends as include[]', async () => {
    fakes.openai.script(GREETING);
    const response = await client.responses.create({ model: 'openai/test-model', input: 'Say hello' });
    const one = await client.responses.inputItems.list(response.id, {
      include: ['message.input_image.image_url'],
    });
    expect(one.data).toHaveLength(1);
    const several = await client.responses.inputItems.list(response.id, {
      include: ['message.input_image.image_url', 'reasoning.encrypted_content'],
    });
    expect(several.data).toHaveLength(1);

    const conversation = await client.conversations.create({
      items: [{ type: 'message', role: 'user', content: 'A note' }],
    });
    const items = await client.conversations.items.list(conversation.id, {
      include: ['message.input_image.image_url', 'message.output_text.logprobs'],
      limit: 20,
    });
    expect(items.data).toHaveLength(1);

    await expect(
      client.conversations.items.list(conversation.id, {
        include: ['not.a.field'] as unknown as OpenAI.Responses.ResponseIncludable[],
      }),
    ).rejects.toMatchObject({ status: 400, param: 'include[]' });
  });

  it("takes null for a tool output part's optional fields, as absent", async () => {
    fakes.openai.script(WEATHER_ANSWER);
    const response = await client.responses.create({
      model: 'openai/test-model',
      tools: [weatherTool],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        call,
        {
          type: 'function_call_output',
          call_id: 'call_w1',
          output: [
            { type: 'input_text', text: '21 degrees', prompt_cache_breakpoint: null },
            { type: 'input_image', image_url: 'https://example.com/sky.png', detail: null },
            {
              type: 'input_file',
              file_id: 'file-abc',
              file_data: null,
              file_url: null,
              filename: null,
              prompt_cache_breakpoint: null,
            },
          ],
        },
      ],
    } as Params);
    expect(response.output_text).toBe('It is 21 degrees in Paris.');
    expect(upstream(fakes.openai)?.raw).toContain('https://example.com/sky.png');

    const [, , result] = (await client.responses.inputItems.list(response.id, { order: 'asc' })).data;
    expect(result).toMatchObject({
      type: 'function_call_output',
      output: [
        { type: 'input_text', text: '21 degrees' },
        { type: 'input_image', image_url: 'https://example.com/sky.png', detail: 'auto' },
        { type: 'input_file', file_id: 'file-abc' },
      ],
    });
    expect(JSON.stringify(result)).not.toContain('null');
  });

  it('accepts the no-op values of newer fields and sends the provider none of them', async () => {
    fakes.openai.script(WEATHER_ANSWER);
    const response = await client.responses.create({
      model: 'openai/test-model',
      context_management: [{ type: 'compaction', compact_threshold: 200_000 }],
      tools: [
        {
          ...weatherTool,
          defer_loading: false,
          allowed_callers: ['direct'],
          output_schema: { type: 'object', properties: { degrees: { type: 'number' } } },
        },
      ],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        { ...call, caller: { type: 'direct' } },
        { ...call, call_id: 'call_w2', caller: null },
        {
          type: 'function_call_output',
          call_id: 'call_w1',
          output: '21 degrees',
          caller: null,
          namespace: null,
        },
        { type: 'function_call_output', call_id: 'call_w2', output: '21 degrees', name: 'get_weather' },
      ],
    } as Params);
    expect(response.status).toBe('completed');
    const sent = upstream(fakes.openai)?.raw ?? '';
    for (const field of ['defer_loading', 'allowed_callers', 'output_schema', 'caller', 'compact'])
      expect(sent).not.toContain(field);
    const items = (await client.responses.inputItems.list(response.id, { order: 'asc' })).data;
    expect(JSON.stringify(items)).not.toContain('caller');
  });

  it("refuses by name what needs OpenAI's own state or runtime, before any provider is asked", async () => {
    // `ultrafast` and some fields are newer than the SDK installed here: its types are the older ones.
    const refused: Array<[string, Record<string, unknown>]> = [
      ['prompt', { prompt: { id: 'pmpt_123', version: '2', variables: { city: 'Paris' } } }],
      ['moderation', { moderation: { model: 'omni-moderation-latest' } }],
      ['service_tier', { service_tier: 'ultrafast' }],
      ['tools[0].defer_loading', { tools: [{ ...weatherTool, defer_loading: true }] }],
      ['tools[0].allowed_callers', { tools: [{ ...weatherTool, allowed_callers: ['programmatic'] }] }],
      [
        'input[1].namespace',
        {
          input: [
            { role: 'user', content: 'Go' },
            { ...call, namespace: 'crm' },
          ] as Params['input'],
        },
      ],
      [
        'input[1].caller',
        {
          input: [
            { role: 'user', content: 'Go' },
            { ...call, caller: { type: 'program', caller_id: 'prog_1' } },
          ] as Params['input'],
        },
      ],
    ];
    const before = fakes.openai.requests.length;
    for (const [param, fields] of refused) {
      const attempt = client.responses.create({
        model: 'openai/test-model',
        input: 'Hi',
        ...fields,
      } as Params);
      await expect(attempt, param).rejects.toMatchObject({
        status: 400,
        code: 'unsupported_parameter',
        param,
      });
    }
    expect(fakes.openai.requests.length).toBe(before);

    const conversation = await client.conversations.create({});
    await expect(
      client.conversations.items.create(conversation.id, {
        items: [{ ...call, namespace: 'crm' }] as OpenAI.Conversations.ItemCreateParams['items'],
      }),
    ).rejects.toMatchObject({ status: 400, code: 'unsupported_parameter', param: 'items[0].namespace' });
  });

  it("sends OpenAI's own settings to an OpenAI-format provider, streamed or not", async () => {
    const settings = {
      text: { verbosity: 'low' },
      service_tier: 'flex',
      prompt_cache_key: 'tenant-7',
      prompt_cache_retention: '24h',
      safety_identifier: 'user-hash-1',
      reasoning: { effort: 'none' },
    } as const;
    for (const stream of [false, true]) {
      fakes.openai.script(GREETING);
      if (stream)
        await client.responses.stream({ model: 'openai/test-model', input: 'Hi', ...settings }).done();
      else await client.responses.create({ model: 'openai/test-model', input: 'Hi', ...settings });
      const body = upstreamBody(fakes.openai);
      expect(body).toMatchObject({
        verbosity: 'low',
        service_tier: 'flex',
        prompt_cache_key: 'tenant-7',
        prompt_cache_retention: '24h',
        safety_identifier: 'user-hash-1',
        reasoning_effort: 'none',
      });
      // `user` is OpenAI's older field: not sent when the client sent none.
      expect(body).not.toHaveProperty('user');
    }

    fakes.openai.script(GREETING);
    await client.responses.create({
      model: 'openai/test-model',
      input: 'Hi',
      user: 'u-1',
      safety_identifier: 's-1',
    });
    expect(upstreamBody(fakes.openai)).toMatchObject({ user: 'u-1', safety_identifier: 's-1' });

    // Other formats have no place for them; Anthropic takes the end-user id as metadata.
    fakes.anthropic.script(GREETING);
    await client.responses.create({ model: 'anthropic/test-model', input: 'Hi', ...settings });
    const raw = upstream(fakes.anthropic)?.raw ?? '';
    for (const field of ['verbosity', 'service_tier', 'prompt_cache', 'safety_identifier'])
      expect(raw).not.toContain(field);
    expect(upstreamBody(fakes.anthropic)).toMatchObject({ metadata: { user_id: 'user-hash-1' } });
  });

  it('sends a priority tier on to an OpenAI-format provider, priced as fast processing there', async () => {
    // `fast` is newer than the SDK installed here.
    for (const tier of ['priority', 'fast'] as Params['service_tier'][]) {
      fakes.openai.script(GREETING);
      await client.responses.create({ model: 'openai/test-model', input: 'Hi', service_tier: tier });
      expect(upstreamBody(fakes.openai)).toMatchObject({ service_tier: tier });
    }
  });
});
