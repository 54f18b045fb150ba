import Anthropic from '@anthropic-ai/sdk';
import { ApiError, type GenerateContentResponse, GoogleGenAI, type Part } from '@google/genai';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';

/**
 * The fake providers against the official SDKs, no gateway involved: what each SDK assembles from
 * a fake must be the scripted answer, and each fake's failures must be the SDK's own errors.
 */

const KEY = 'sk-fake-provider-key-0123456789';
const WRONG_KEY = 'sk-not-the-right-key-9876543210';

const weather = { city: 'Paris', unit: 'celsius' };
/** Thinking, text and two tool calls: every kind of block, with cached and reasoning tokens. */
const TOOLS: Script = {
  blocks: [
    { type: 'thinking', text: 'The user wants the weather.', signature: 'c2lnbmF0dXJlLW9uZQ==' },
    { type: 'text', text: 'Let me check both.' },
    { type: 'tool_call', id: 'call_weather_1', name: 'get_weather', arguments: weather },
    { type: 'tool_call', id: 'call_weather_2', name: 'get_weather', arguments: { city: 'Oslo' } },
  ],
  stop: 'tool_use',
  usage: { input: 120, output: 40, cached: 64, reasoning: 10 },
  chunkSize: 5,
};
const SHORT: Script = {
  blocks: [{ type: 'text', text: 'Hi there!' }],
  stop: 'end',
  usage: { input: 5, output: 3 },
  chunkSize: 4,
};
const LONG: Script = {
  blocks: [{ type: 'text', text: 'A fairly long answer that arrives in many small pieces.' }],
  stop: 'end',
  usage: { input: 10, output: 20 },
  chunkSize: 4,
};

/** A raw request to a fake, read whole. */
async function raw(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  const response = await request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.statusCode, headers: response.headers, text: await response.body.text() };
}

/** The data of each SSE event of a whole stream, parsed. */
function sseEvents(text: string, separator = '\n\n'): Array<{ event?: string; data: unknown }> {
  return text
    .split(separator)
    .filter((event) => event !== '')
    .map((event) => {
      const lines = event.split(separator === '\n\n' ? '\n' : '\r\n');
      const name = lines.find((line) => line.startsWith('event: '))?.slice(7);
      const data = lines.find((line) => line.startsWith('data: '))?.slice(6) ?? '';
      return { ...(name && { event: name }), data: data === '[DONE]' ? data : JSON.parse(data) };
    });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('openai fake', () => {
  let fake: FakeProvider;
  let client: OpenAI;
  const params = {
    model: 'gpt-test',
    messages: [{ role: 'user' as const, content: 'Weather in Paris and Oslo?' }],
  };
  const toolCalls = [
    {
      id: 'call_weather_1',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
    },
    {
      id: 'call_weather_2',
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
    },
  ];
  const usage = {
    prompt_tokens: 120,
    completion_tokens: 40,
    total_tokens: 160,
    prompt_tokens_details: { cached_tokens: 64, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 10,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [KEY] });
    client = new OpenAI({ baseURL: fake.baseUrl, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => fake?.close());

  it('chat.completions.create reproduces the script', async () => {
    fake.script({ ...TOOLS, id: 'chatcmpl-scripted-1' });
    const completion = await client.chat.completions.create(params);
    expect(completion).toEqual({
      id: 'chatcmpl-scripted-1',
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'gpt-test',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check both.',
            reasoning_content: 'The user wants the weather.',
            tool_calls: toolCalls,
            refusal: null,
            annotations: [],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage,
      service_tier: 'default',
      system_fingerprint: 'fp_f4ke0001',
    });
    const sent = fake.requests.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: params });
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('the streaming accumulator reproduces the script, usage included', async () => {
    fake.script({ ...TOOLS, id: 'chatcmpl-scripted-2' });
    const completion = await client.chat.completions
      .stream({ ...params, stream_options: { include_usage: true } })
      .finalChatCompletion();
    const message = completion.choices[0]!.message;
    expect(completion.id).toBe('chatcmpl-scripted-2');
    expect(message.content).toBe('Let me check both.');
    expect(message.tool_calls).toEqual(toolCalls);
    expect(
      message.tool_calls!.map((call) =>
        call.type === 'function' ? JSON.parse(call.function.arguments) : null,
      ),
    ).toEqual([weather, { city: 'Oslo' }]);
    expect(completion.choices[0]!.finish_reason).toBe('tool_calls');
    expect(completion.usage).toEqual(usage);
  });

  it('streams chunks exactly like the real API', async () => {
    fake.script({ ...SHORT, id: 'chatcmpl-short', model: 'gpt-reported' });
    const response = await raw(
      `${fake.baseUrl}/chat/completions`,
      { ...params, stream: true, stream_options: { include_usage: true } },
      { authorization: `Bearer ${KEY}` },
    );
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const base = {
      id: 'chatcmpl-short',
      object: 'chat.completion.chunk',
      created: expect.any(Number),
      model: 'gpt-reported',
      service_tier: 'default',
      system_fingerprint: 'fp_f4ke0001',
    };
    const chunk = (delta: object, finish: string | null = null) => ({
      data: { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null },
    });
    expect(sseEvents(response.text)).toEqual([
      chunk({ role: 'assistant', content: '', refusal: null }),
      chunk({ content: 'Hi t' }),
      chunk({ content: 'here' }),
      chunk({ content: '!' }),
      chunk({}, 'stop'),
      {
        data: {
          ...base,
          choices: [],
          usage: {
            prompt_tokens: 5,
            completion_tokens: 3,
            total_tokens: 8,
            prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
            completion_tokens_details: {
              reasoning_tokens: 0,
              audio_tokens: 0,
              accepted_prediction_tokens: 0,
              rejected_prediction_tokens: 0,
            },
          },
        },
      },
      { data: '[DONE]' },
    ]);
  });

  it('streams tool call deltas with id and name first, then argument pieces', async () => {
    fake.script({
      blocks: [{ type: 'tool_call', id: 'call_x', name: 'f', arguments: { a: 1 } }],
      stop: 'tool_use',
      usage: { input: 1, output: 1 },
      chunkSize: 4,
    });
    const response = await raw(
      `${fake.baseUrl}/chat/completions`,
      { ...params, stream: true },
      {
        authorization: `Bearer ${KEY}`,
      },
    );
    const deltas = sseEvents(response.text).map((event) =>
      event.data === '[DONE]' ? event.data : (event.data as OpenAI.ChatCompletionChunk).choices[0],
    );
    expect(deltas).toEqual([
      {
        index: 0,
        delta: { role: 'assistant', content: '', refusal: null },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: {
          tool_calls: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'f', arguments: '' } }],
        },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: '{"a"' } }] },
        logprobs: null,
        finish_reason: null,
      },
      {
        index: 0,
        delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] },
        logprobs: null,
        finish_reason: null,
      },
      { index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' },
      '[DONE]',
    ]);
  });

  it('rejects a wrong key with 401 invalid_api_key', async () => {
    const wrong = new OpenAI({ baseURL: fake.baseUrl, apiKey: WRONG_KEY, maxRetries: 0 });
    const error = await rejection(wrong.chat.completions.create(params));
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).error).toEqual({
      message: 'Incorrect API key provided.',
      type: 'invalid_request_error',
      param: null,
      code: 'invalid_api_key',
    });
  });

  it('a status fault is a RateLimitError with Retry-After', async () => {
    fake.script({ ...SHORT, fault: { kind: 'status', status: 429, retryAfterSeconds: 7 } });
    const error = await rejection(client.chat.completions.create(params));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const rateLimited = error as InstanceType<typeof OpenAI.RateLimitError>;
    expect(rateLimited.status).toBe(429);
    expect(rateLimited.headers.get('retry-after')).toBe('7');
    expect(rateLimited.error).toEqual({
      message: 'Rate limit reached for requests.',
      type: 'requests',
      param: null,
      code: 'rate_limit_exceeded',
    });
  });

  it('a cut stream makes the SDK stream throw', async () => {
    fake.script({ ...LONG, fault: { kind: 'cut', afterEvents: 3 } });
    await expect(client.chat.completions.stream(params).finalChatCompletion()).rejects.toThrow();
  });

  it('a non-streaming answer cut mid-body fails the body read', async () => {
    fake.script({ ...LONG, fault: { kind: 'cut', afterEvents: 0 } });
    await expect(client.chat.completions.create(params)).rejects.toThrow('terminated');
  });

  it('an in-stream error event is an APIError', async () => {
    fake.script({ ...LONG, fault: { kind: 'error_event', afterEvents: 3, status: 503 } });
    const error = await rejection(client.chat.completions.stream(params).finalChatCompletion());
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).error).toEqual({
      message: 'The engine is currently overloaded.',
      type: 'server_error',
      param: null,
      code: null,
    });
  });

  it('no_terminal ends the stream cleanly without [DONE]', async () => {
    fake.script({ ...SHORT, fault: { kind: 'no_terminal' } });
    const response = await raw(
      `${fake.baseUrl}/chat/completions`,
      { ...params, stream: true },
      {
        authorization: `Bearer ${KEY}`,
      },
    );
    const events = sseEvents(response.text);
    expect(events).toHaveLength(5);
    expect(events.at(-1)!.data).toMatchObject({ choices: [{ finish_reason: 'stop' }] });
  });

  it('embeddings.create gets a fixed vector per input, with usage', async () => {
    const embedded = await client.embeddings.create({
      model: 'text-embedding-test',
      input: ['one', 'three'],
    });
    expect(embedded).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [0.125, -0.25, 0.5, 1] },
        { object: 'embedding', index: 1, embedding: [0.125, -0.25, 0.5, 1] },
      ],
      model: 'text-embedding-test',
      usage: { prompt_tokens: 3, total_tokens: 3 },
    });
  });

  it('answers an unknown route and a missing parameter like OpenAI', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const unknown = await raw(`${fake.baseUrl}/chat/complete`, params, auth);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toEqual({
      error: {
        message: 'Invalid URL (POST /v1/chat/complete)',
        type: 'invalid_request_error',
        param: null,
        code: null,
      },
    });
    const missing = await raw(`${fake.baseUrl}/chat/completions`, { model: 'gpt-test' }, auth);
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.text)).toEqual({
      error: {
        message: "Missing required parameter: 'messages'.",
        type: 'invalid_request_error',
        param: 'messages',
        code: 'missing_required_parameter',
      },
    });
  });
});

describe('anthropic fake', () => {
  let fake: FakeProvider;
  let client: Anthropic;
  const params = {
    model: 'claude-test',
    max_tokens: 1024,
    messages: [{ role: 'user' as const, content: 'Weather in Paris and Oslo?' }],
  };
  const content = [
    { type: 'thinking', thinking: 'The user wants the weather.', signature: 'c2lnbmF0dXJlLW9uZQ==' },
    { type: 'text', text: 'Let me check both.' },
    { type: 'tool_use', id: 'call_weather_1', name: 'get_weather', input: weather },
    { type: 'tool_use', id: 'call_weather_2', name: 'get_weather', input: { city: 'Oslo' } },
  ];
  const usage = {
    input_tokens: 56,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 64,
    cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
    output_tokens: 40,
    service_tier: 'standard',
  };

  beforeAll(async () => {
    fake = await startFakeProvider('anthropic', { keys: [KEY] });
    client = new Anthropic({ baseURL: fake.url, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => fake?.close());

  it('messages.create reproduces the script, cache reads outside input_tokens', async () => {
    fake.script({ ...TOOLS, id: 'msg_scripted_1' });
    const message = await client.messages.create(params);
    expect(message).toEqual({
      id: 'msg_scripted_1',
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content,
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage,
    });
    const sent = fake.requests.at(-1)!;
    expect(sent).toMatchObject({ method: 'POST', path: '/v1/messages', body: params });
    // This SDK sends the API key as a bearer token; the fake takes it there or in x-api-key.
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });

  it('messages.stream().finalMessage() reproduces the script', async () => {
    fake.script({ ...TOOLS, id: 'msg_scripted_2' });
    const message = await client.messages.stream(params).finalMessage();
    expect(message).toEqual({
      // The SDK's accumulator adds its structured-output field.
      parsed_output: null,
      id: 'msg_scripted_2',
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content,
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage,
    });
  });

  it('streams the event sequence of the real API', async () => {
    fake.script({
      id: 'msg_seq',
      blocks: [
        { type: 'thinking', text: 'Hmm.', signature: 'sig' },
        { type: 'text', text: 'Hi there' },
        { type: 'tool_call', id: 'toolu_1', name: 'f', arguments: { a: 1 } },
      ],
      stop: 'stop_sequence',
      stopSequence: '###',
      usage: { input: 10, output: 6, cached: 4 },
      chunkSize: 4,
    });
    const response = await raw(
      `${fake.url}/v1/messages`,
      { ...params, stream: true },
      {
        'x-api-key': KEY,
        'anthropic-version': '2023-06-01',
      },
    );
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(response.headers['request-id']).toMatch(/^req_/);
    const startUsage = {
      input_tokens: 6,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 4,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 0 },
      output_tokens: 1,
      service_tier: 'standard',
    };
    const delta = (index: number, payload: object) => ({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index, delta: payload },
    });
    const stop = (index: number) => ({
      event: 'content_block_stop',
      data: { type: 'content_block_stop', index },
    });
    expect(sseEvents(response.text)).toEqual([
      {
        event: 'message_start',
        data: {
          type: 'message_start',
          message: {
            id: 'msg_seq',
            type: 'message',
            role: 'assistant',
            model: 'claude-test',
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: startUsage,
          },
        },
      },
      { event: 'ping', data: { type: 'ping' } },
      {
        event: 'content_block_start',
        data: {
          type: 'content_block_start',
          index: 0,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        },
      },
      delta(0, { type: 'thinking_delta', thinking: 'Hmm.' }),
      delta(0, { type: 'signature_delta', signature: 'sig' }),
      stop(0),
      {
        event: 'content_block_start',
        data: { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } },
      },
      delta(1, { type: 'text_delta', text: 'Hi t' }),
      delta(1, { type: 'text_delta', text: 'here' }),
      stop(1),
      {
        event: 'content_block_start',
        data: {
          type: 'content_block_start',
          index: 2,
          content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} },
        },
      },
      delta(2, { type: 'input_json_delta', partial_json: '' }),
      delta(2, { type: 'input_json_delta', partial_json: '{"a"' }),
      delta(2, { type: 'input_json_delta', partial_json: ':1}' }),
      stop(2),
      {
        event: 'message_delta',
        data: {
          type: 'message_delta',
          delta: { stop_reason: 'stop_sequence', stop_sequence: '###' },
          usage: { output_tokens: 6 },
        },
      },
      { event: 'message_stop', data: { type: 'message_stop' } },
    ]);
  });

  it('raises RateLimitError for 429 and InternalServerError for 529 overloaded', async () => {
    fake.script({ ...SHORT, fault: { kind: 'status', status: 429, retryAfterSeconds: 3 } });
    const limited = await rejection(client.messages.create(params));
    expect(limited).toBeInstanceOf(Anthropic.RateLimitError);
    expect((limited as InstanceType<typeof Anthropic.RateLimitError>).headers.get('retry-after')).toBe('3');

    fake.script({ ...SHORT, fault: { kind: 'status', status: 529 } });
    const overloaded = await rejection(client.messages.stream(params).finalMessage());
    expect(overloaded).toBeInstanceOf(Anthropic.InternalServerError);
    const apiError = overloaded as InstanceType<typeof Anthropic.InternalServerError>;
    expect(apiError.status).toBe(529);
    expect(apiError.error).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
      request_id: expect.stringMatching(/^req_011C/),
    });
    expect(apiError.requestID).toBe((apiError.error as { request_id: string }).request_id);
  });

  it('an in-stream error event is an APIError of its type', async () => {
    fake.script({ ...LONG, fault: { kind: 'error_event', afterEvents: 4, status: 529 } });
    const error = await rejection(client.messages.stream(params).finalMessage());
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
  });

  it('no_terminal ends the stream after message_delta, without message_stop', async () => {
    fake.script({ ...SHORT, fault: { kind: 'no_terminal' } });
    const response = await raw(
      `${fake.url}/v1/messages`,
      { ...params, stream: true },
      {
        'x-api-key': KEY,
        'anthropic-version': '2023-06-01',
      },
    );
    expect(sseEvents(response.text).map((event) => event.event)).toEqual([
      'message_start',
      'ping',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
    ]);
  });

  it('a cut stream makes the SDK stream throw', async () => {
    fake.script({ ...LONG, fault: { kind: 'cut', afterEvents: 5 } });
    await expect(client.messages.stream(params).finalMessage()).rejects.toThrow();
  });

  it('rejects a wrong key with authentication_error', async () => {
    const wrong = new Anthropic({ baseURL: fake.url, apiKey: WRONG_KEY, maxRetries: 0 });
    const error = await rejection(wrong.messages.create(params));
    expect(error).toBeInstanceOf(Anthropic.AuthenticationError);
    expect((error as InstanceType<typeof Anthropic.AuthenticationError>).error).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
      request_id: expect.stringMatching(/^req_/),
    });
  });

  it('requires anthropic-version, max_tokens and messages', async () => {
    const noVersion = await raw(`${fake.url}/v1/messages`, params, { 'x-api-key': KEY });
    expect(noVersion.status).toBe(400);
    expect(JSON.parse(noVersion.text)).toEqual({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' },
      request_id: expect.stringMatching(/^req_/),
    });
    const headers = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' };
    const noMax = await raw(`${fake.url}/v1/messages`, { model: 'claude-test', messages: [] }, headers);
    expect(noMax.status).toBe(400);
    expect(JSON.parse(noMax.text).error).toEqual({
      type: 'invalid_request_error',
      message: 'max_tokens: Field required',
    });
    const unknown = await raw(`${fake.url}/v1/complete`, params, headers);
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text).error).toEqual({ type: 'not_found_error', message: 'Not Found' });
  });

  it('messages.countTokens answers the scripted input', async () => {
    fake.script({ ...SHORT, usage: { input: 321, output: 0 } });
    const counted = await client.messages.countTokens({ model: 'claude-test', messages: params.messages });
    expect(counted).toEqual({ input_tokens: 321 });
  });
});

describe('gemini fake', () => {
  let fake: FakeProvider;
  let ai: GoogleGenAI;
  const contents = 'Weather in Paris and Oslo?';
  const usageMetadata = {
    promptTokenCount: 120,
    candidatesTokenCount: 30,
    totalTokenCount: 160,
    cachedContentTokenCount: 64,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: 120 }],
    thoughtsTokenCount: 10,
  };
  const functionCalls = [
    { id: 'call_weather_1', name: 'get_weather', args: weather },
    { id: 'call_weather_2', name: 'get_weather', args: { city: 'Oslo' } },
  ];
  const answerText = (parts: Part[]) =>
    parts.flatMap((part) => (part.text !== undefined && !part.thought ? [part.text] : [])).join('');

  beforeAll(async () => {
    fake = await startFakeProvider('gemini', { keys: [KEY] });
    ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: fake.url } });
  });
  afterAll(() => fake?.close());

  it('models.generateContent reproduces the script, signatures on the thought and first call', async () => {
    fake.script({ ...TOOLS, id: 'resp-scripted-1' });
    const response = await ai.models.generateContent({ model: 'gemini-test', contents });
    expect(response.candidates).toEqual([
      {
        content: {
          parts: [
            { text: 'The user wants the weather.', thought: true, thoughtSignature: 'c2lnbmF0dXJlLW9uZQ==' },
            { text: 'Let me check both.' },
            { functionCall: functionCalls[0], thoughtSignature: 'c2lnbmF0dXJlLW9uZQ==' },
            { functionCall: functionCalls[1] },
          ],
          role: 'model',
        },
        finishReason: 'STOP',
        index: 0,
      },
    ]);
    expect(response.functionCalls).toEqual(functionCalls);
    expect(response.usageMetadata).toEqual(usageMetadata);
    expect(response.modelVersion).toBe('gemini-test');
    expect(response.responseId).toBe('resp-scripted-1');
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1beta/models/gemini-test:generateContent');
    expect(sent.headers['x-goog-api-key']).toBe(KEY);
    expect(sent.body).toEqual({ contents: [{ parts: [{ text: contents }], role: 'user' }] });
  });

  it('models.generateContentStream reproduces the script in chunks', async () => {
    fake.script({ ...TOOLS, id: 'resp-scripted-2', model: 'gemini-test-001' });
    const chunks: GenerateContentResponse[] = [];
    for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-test', contents })) {
      chunks.push(chunk);
    }
    const parts = chunks.flatMap((chunk) => chunk.candidates?.[0]?.content?.parts ?? []);
    expect(answerText(parts)).toBe('Let me check both.');
    expect(parts.filter((part) => part.thought).map((part) => part.text)).toEqual([
      'The u',
      'ser w',
      'ants ',
      'the w',
      'eathe',
      'r.',
    ]);
    expect(parts.filter((part) => part.thoughtSignature).length).toBe(2);
    expect(chunks.flatMap((chunk) => chunk.functionCalls ?? [])).toEqual(functionCalls);
    const last = chunks.at(-1)!;
    expect(last.candidates?.[0]?.finishReason).toBe('STOP');
    expect(last.usageMetadata).toEqual(usageMetadata);
    expect(chunks.slice(0, -1).every((chunk) => chunk.usageMetadata === undefined)).toBe(true);
    expect(chunks.every((chunk) => chunk.modelVersion === 'gemini-test-001')).toBe(true);
    expect(fake.requests.at(-1)!.path).toBe('/v1beta/models/gemini-test:streamGenerateContent?alt=sse');
  });

  it('frames the stream with CRLF and no [DONE]', async () => {
    fake.script({ ...SHORT, id: 'resp-short' });
    const response = await raw(
      `${fake.baseUrl}/models/gemini-test:streamGenerateContent?alt=sse`,
      { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] },
      { 'x-goog-api-key': KEY },
    );
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream');
    const chunk = (text: string) => ({
      candidates: [{ content: { parts: [{ text }], role: 'model' }, index: 0 }],
      modelVersion: 'gemini-test',
      responseId: 'resp-short',
    });
    expect(response.text.endsWith('\r\n\r\n')).toBe(true);
    expect(sseEvents(response.text, '\r\n\r\n')).toEqual([
      { data: chunk('Hi t') },
      { data: chunk('here') },
      {
        data: {
          candidates: [
            { content: { parts: [{ text: '!' }], role: 'model' }, finishReason: 'STOP', index: 0 },
          ],
          usageMetadata: {
            promptTokenCount: 5,
            candidatesTokenCount: 3,
            totalTokenCount: 8,
            promptTokensDetails: [{ modality: 'TEXT', tokenCount: 5 }],
          },
          modelVersion: 'gemini-test',
          responseId: 'resp-short',
        },
      },
    ]);
  });

  it('no_terminal ends the stream without a finishReason', async () => {
    fake.script({ ...SHORT, fault: { kind: 'no_terminal' } });
    const response = await raw(
      `${fake.baseUrl}/models/gemini-test:streamGenerateContent?alt=sse`,
      { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] },
      { 'x-goog-api-key': KEY },
    );
    const chunks = sseEvents(response.text, '\r\n\r\n').map((event) => event.data as GenerateContentResponse);
    expect(chunks).toHaveLength(3);
    expect(chunks.some((chunk) => chunk.candidates?.[0]?.finishReason || chunk.usageMetadata)).toBe(false);
  });

  it('refuses a key in the URL and a stream without alt=sse', async () => {
    const body = { contents: [{ role: 'user', parts: [{ text: 'Hi' }] }] };
    const headers = { 'x-goog-api-key': KEY };
    const keyInUrl = await raw(
      `${fake.baseUrl}/models/gemini-test:generateContent?key=${KEY}`,
      body,
      headers,
    );
    expect(keyInUrl.status).toBe(400);
    expect(JSON.parse(keyInUrl.text).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    const noAlt = await raw(`${fake.baseUrl}/models/gemini-test:streamGenerateContent`, body, headers);
    expect(noAlt.status).toBe(400);
    const noContents = await raw(`${fake.baseUrl}/models/gemini-test:generateContent`, {}, headers);
    expect(JSON.parse(noContents.text)).toEqual({
      error: {
        code: 400,
        message: '* GenerateContentRequest.contents: contents is not specified',
        status: 'INVALID_ARGUMENT',
      },
    });
  });

  it('rejects a wrong key with 400 API_KEY_INVALID and a missing one with 403', async () => {
    const wrong = new GoogleGenAI({ apiKey: WRONG_KEY, httpOptions: { baseUrl: fake.url } });
    const error = await rejection(wrong.models.generateContent({ model: 'gemini-test', contents }));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).message).toContain('API_KEY_INVALID');
    const missing = await raw(`${fake.baseUrl}/models/gemini-test:generateContent`, { contents: [] });
    expect(missing.status).toBe(403);
    expect(JSON.parse(missing.text).error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
  });

  it('a 429 is an ApiError with RetryInfo in the body', async () => {
    fake.script({ ...SHORT, fault: { kind: 'status', status: 429, retryAfterSeconds: 12 } });
    const error = await rejection(ai.models.generateContent({ model: 'gemini-test', contents }));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect((error as ApiError).message).toContain('"retryDelay":"12s"');
  });

  it('an in-stream error is an ApiError with its code', async () => {
    fake.script({ ...LONG, fault: { kind: 'error_event', afterEvents: 2, status: 503 } });
    const read = async () => {
      for await (const _ of await ai.models.generateContentStream({ model: 'gemini-test', contents })) {
        // drain
      }
    };
    const error = await rejection(read());
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(503);
  });

  it('a cut stream makes the SDK stream throw', async () => {
    fake.script({ ...LONG, fault: { kind: 'cut', afterEvents: 3 } });
    const read = async () => {
      for await (const _ of await ai.models.generateContentStream({ model: 'gemini-test', contents })) {
        // drain
      }
    };
    await expect(read()).rejects.toThrow();
  });

  it('models.countTokens answers the scripted input', async () => {
    fake.script({ ...SHORT, usage: { input: 77, output: 0 } });
    const counted = await ai.models.countTokens({ model: 'gemini-test', contents });
    expect(counted.totalTokens).toBe(77);
    expect(fake.requests.at(-1)!.path).toBe('/v1beta/models/gemini-test:countTokens');
  });

  it('models.embedContent (batchEmbedContents) answers one vector per input, in order', async () => {
    const embedded = await ai.models.embedContent({
      model: 'gemini-embedding-test',
      contents: ['hi', 'hello'],
      config: { outputDimensionality: 4 },
    });
    expect(embedded.embeddings).toEqual([
      { values: [0.125, -0.25, 0.5, 2 / 1024] },
      { values: [0.125, -0.25, 0.5, 5 / 1024] },
    ]);
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1beta/models/gemini-embedding-test:batchEmbedContents');
    expect(sent.body).toEqual({
      requests: [
        {
          content: { parts: [{ text: 'hi' }], role: 'user' },
          outputDimensionality: 4,
          model: 'models/gemini-embedding-test',
        },
        {
          content: { parts: [{ text: 'hello' }], role: 'user' },
          outputDimensionality: 4,
          model: 'models/gemini-embedding-test',
        },
      ],
    });
  });

  it('embedContent answers one embedding; bad embedding requests get Gemini errors', async () => {
    const headers = { 'x-goog-api-key': KEY };
    const one = await raw(
      `${fake.baseUrl}/models/gemini-embedding-test:embedContent`,
      { content: { parts: [{ text: 'abc' }] }, outputDimensionality: 2 },
      headers,
    );
    expect(JSON.parse(one.text)).toEqual({ embedding: { values: [0.125, -0.25] } });
    const empty = await raw(
      `${fake.baseUrl}/models/gemini-embedding-test:batchEmbedContents`,
      { requests: [] },
      headers,
    );
    expect(empty.status).toBe(400);
    const otherModel = await raw(
      `${fake.baseUrl}/models/gemini-embedding-test:batchEmbedContents`,
      { requests: [{ model: 'models/other', content: { parts: [{ text: 'x' }] } }] },
      headers,
    );
    expect(JSON.parse(otherModel.text).error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
  });
});

describe('ollama fake', () => {
  let fake: FakeProvider;
  const chat = { model: 'llama-test', messages: [{ role: 'user', content: 'Weather?' }] };
  const ndjson = (text: string) =>
    text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line));
  const stats = {
    total_duration: expect.any(Number),
    load_duration: expect.any(Number),
    prompt_eval_duration: expect.any(Number),
    eval_duration: expect.any(Number),
  };

  beforeAll(async () => {
    fake = await startFakeProvider('ollama');
  });
  afterAll(() => fake?.close());

  it('streams NDJSON by default: deltas, whole tool calls, then the done line', async () => {
    fake.script(TOOLS);
    const response = await raw(`${fake.baseUrl}/api/chat`, chat);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-ndjson');
    const line = (message: object) => ({
      model: 'llama-test',
      created_at: expect.any(String),
      message: { role: 'assistant', ...message },
      done: false,
    });
    expect(ndjson(response.text)).toEqual([
      line({ content: '', thinking: 'The u' }),
      line({ content: '', thinking: 'ser w' }),
      line({ content: '', thinking: 'ants ' }),
      line({ content: '', thinking: 'the w' }),
      line({ content: '', thinking: 'eathe' }),
      line({ content: '', thinking: 'r.' }),
      line({ content: 'Let m' }),
      line({ content: 'e che' }),
      line({ content: 'ck bo' }),
      line({ content: 'th.' }),
      line({
        content: '',
        tool_calls: [
          { function: { index: 0, name: 'get_weather', arguments: weather } },
          { function: { index: 1, name: 'get_weather', arguments: { city: 'Oslo' } } },
        ],
      }),
      {
        model: 'llama-test',
        created_at: expect.any(String),
        message: { role: 'assistant', content: '' },
        done: true,
        done_reason: 'stop',
        prompt_eval_count: 120,
        eval_count: 40,
        ...stats,
      },
    ]);
  });

  it('answers one object with "stream": false', async () => {
    fake.script({ ...SHORT, stop: 'max_tokens' });
    const response = await raw(`${fake.baseUrl}/api/chat`, { ...chat, stream: false });
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(response.text)).toEqual({
      model: 'llama-test',
      created_at: expect.any(String),
      message: { role: 'assistant', content: 'Hi there!' },
      done: true,
      done_reason: 'length',
      prompt_eval_count: 5,
      eval_count: 3,
      ...stats,
    });
  });

  it('ends a stream with an error line, or without the done line', async () => {
    fake.script({ ...SHORT, fault: { kind: 'error_event', afterEvents: 1 } });
    const failed = ndjson((await raw(`${fake.baseUrl}/api/chat`, chat)).text);
    expect(failed).toHaveLength(2);
    expect(failed[1]).toEqual({ error: 'model runner has unexpectedly stopped' });

    fake.script({ ...SHORT, fault: { kind: 'no_terminal' } });
    const unfinished = ndjson((await raw(`${fake.baseUrl}/api/chat`, chat)).text);
    expect(unfinished.map((line) => line.done)).toEqual([false, false, false]);
  });

  it('a cut stream fails the body read', async () => {
    fake.script({ ...LONG, fault: { kind: 'cut', afterEvents: 2 } });
    const response = await request(`${fake.baseUrl}/api/chat`, {
      method: 'POST',
      body: JSON.stringify(chat),
    });
    await expect(response.body.text()).rejects.toThrow();
  });

  it('answers errors as {"error"} with the status, and unknown routes as plain 404', async () => {
    fake.script({ ...SHORT, fault: { kind: 'status', status: 500 } });
    const failed = await raw(`${fake.baseUrl}/api/chat`, chat);
    expect(failed.status).toBe(500);
    expect(JSON.parse(failed.text)).toEqual({ error: 'model runner has unexpectedly stopped' });
    const noModel = await raw(`${fake.baseUrl}/api/chat`, { messages: [] });
    expect(noModel.status).toBe(400);
    expect(JSON.parse(noModel.text)).toEqual({ error: 'model is required' });
    const unknown = await raw(`${fake.baseUrl}/api/generate-nothing`, chat);
    expect(unknown).toMatchObject({ status: 404, text: '404 page not found' });
  });

  it('serves OpenAI-compatible embeddings', async () => {
    const client = new OpenAI({ baseURL: `${fake.baseUrl}/v1`, apiKey: 'ollama', maxRetries: 0 });
    const embedded = await client.embeddings.create({ model: 'nomic-test', input: 'hello' });
    expect(embedded.data).toEqual([{ object: 'embedding', index: 0, embedding: [0.125, -0.25, 0.5, 1] }]);
    expect(embedded.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
  });

  it('takes a bearer token only when given keys', async () => {
    const guarded = await startFakeProvider('ollama', { keys: [KEY] });
    try {
      const refused = await raw(`${guarded.url}/api/chat`, chat, { authorization: `Bearer ${WRONG_KEY}` });
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.text)).toEqual({ error: 'unauthorized' });
      const accepted = await raw(
        `${guarded.url}/api/chat`,
        { ...chat, stream: false },
        { authorization: `Bearer ${KEY}` },
      );
      expect(accepted.status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe('script queue', () => {
  it('plays scripts in order, repeats the last, and hands functions the request', async () => {
    const fake = await startFakeProvider('openai');
    try {
      const client = new OpenAI({ baseURL: fake.baseUrl, apiKey: 'any', maxRetries: 0 });
      const say = (text: string): Script => ({
        blocks: [{ type: 'text', text }],
        stop: 'end',
        usage: { input: 1, output: 1 },
      });
      fake.script(say('first'), (request) => say(`echo ${(request.body as { model: string }).model}`));
      const answers: Array<string | null> = [];
      for (const model of ['m1', 'm2', 'm3']) {
        const completion = await client.chat.completions.create({
          model,
          messages: [{ role: 'user', content: 'x' }],
        });
        answers.push(completion.choices[0]!.message.content);
      }
      expect(answers).toEqual(['first', 'echo m2', 'echo m3']);
      expect(fake.requests).toHaveLength(3);
    } finally {
      await fake.close();
    }
  });
});
