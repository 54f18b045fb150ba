import { describe, expect, it } from 'vitest';
import { parseChatRequest, parseEmbeddingsRequest } from '../../src/surfaces/openai/validate.js';

import { rejection } from '../support/rejection.js';

const user = { role: 'user', content: 'hi' };
const chat = (extra: Record<string, unknown>) => ({ model: 'gpt-4o', messages: [user], ...extra });
const rejectChat = (body: unknown) => rejection(() => parseChatRequest(body));

/** Asserts the full error for a body: 400, invalid_request_error, message, param and code. */
function expectChatError(body: unknown, message: string, param: string | null, code: string): void {
  expect(rejectChat(body)).toEqual({ status: 400, type: 'invalid_request_error', message, param, code });
}

describe('chat completions: valid requests', () => {
  it('accepts a plain text conversation and returns it unchanged', () => {
    const body = {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Hello!' },
      ],
    };
    expect(parseChatRequest(body)).toEqual(body);
  });

  it('accepts multi-part user content with images, audio and files', () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'mp3' } },
            { type: 'file', file: { file_id: 'file-abc123' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
          ],
        },
      ],
    };
    expect(parseChatRequest(body)).toEqual(body);
  });

  it('accepts tools, parallel tool calls and their results', () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            {
              id: 'call_2',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c":18}' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '{"temp_c":22}' }] },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Current weather for a city',
            parameters: {
              type: 'object',
              properties: { city: { type: 'string' } },
              required: ['city'],
              additionalProperties: false,
            },
            strict: true,
          },
        },
      ],
      tool_choice: 'auto',
      parallel_tool_calls: true,
    };
    expect(parseChatRequest(body)).toEqual(body);
  });

  it('accepts a json_schema response format', () => {
    const body = chat({
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'math_answer',
          description: 'The answer',
          schema: { type: 'object', properties: { answer: { type: 'number' } }, required: ['answer'] },
          strict: true,
        },
      },
    });
    expect(parseChatRequest(body)).toEqual(body);
  });

  it('accepts streaming with stream_options', () => {
    const body = chat({ stream: true, stream_options: { include_usage: true, include_obfuscation: false } });
    expect(parseChatRequest(body)).toEqual(body);
  });

  it('accepts every documented field and content kind at once', () => {
    const body = {
      model: 'gpt-5',
      messages: [
        { role: 'developer', content: 'Follow the rules.', name: 'dev' },
        {
          role: 'system',
          content: [{ type: 'text', text: 'Be brief.', prompt_cache_breakpoint: { mode: 'explicit' } }],
          name: 'sys',
        },
        {
          role: 'user',
          name: 'alice',
          content: [
            { type: 'text', text: 'Look.' },
            {
              type: 'image_url',
              image_url: { url: 'https://example.com/a.png', detail: 'high' },
              prompt_cache_breakpoint: { mode: 'explicit' },
            },
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { file_id: 'file-1', filename: 'a.pdf' } },
          ],
        },
        {
          role: 'assistant',
          name: 'bot',
          content: [{ type: 'text', text: 'Calling.' }],
          refusal: null,
          audio: { id: 'audio_1' },
          tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } },
            { id: 'call_2', type: 'custom', custom: { name: 'sql', input: 'select 1' } },
          ],
          function_call: null,
        },
        { role: 'tool', tool_call_id: 'call_1', content: 'found', name: 'lookup' },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }] },
        { role: 'assistant', content: null, function_call: { name: 'legacy', arguments: '{}' } },
        { role: 'function', name: 'legacy', content: null },
      ],
      audio: { voice: { id: 'voice_1234' }, format: 'pcm16' },
      frequency_penalty: 0.5,
      function_call: { name: 'legacy' },
      functions: [{ name: 'legacy', description: 'Old style', parameters: { type: 'object' } }],
      logit_bias: { '50256': -100, '13': 5 },
      logprobs: true,
      max_completion_tokens: 1000,
      max_tokens: 1000,
      metadata: { team: 'search', ticket: 'T-1' },
      modalities: ['text', 'audio'],
      moderation: { model: 'omni-moderation-latest', policy: { input: { mode: 'block' }, output: null } },
      n: 2,
      parallel_tool_calls: false,
      prediction: { type: 'content', content: [{ type: 'text', text: 'draft' }] },
      presence_penalty: -0.5,
      prompt_cache_key: 'cache-1',
      prompt_cache_options: { mode: 'explicit', ttl: '30m' },
      prompt_cache_retention: '24h',
      reasoning_effort: 'minimal',
      response_format: { type: 'json_object' },
      safety_identifier: 'hash-abc',
      seed: 42,
      service_tier: 'flex',
      stop: ['\n\n', 'END', 'STOP', '###'],
      store: false,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 2,
      tool_choice: {
        type: 'allowed_tools',
        allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'lookup' } }] },
      },
      tools: [
        { type: 'function', function: { name: 'lookup', parameters: { type: 'object' }, strict: null } },
        {
          type: 'custom',
          custom: {
            name: 'sql',
            description: 'Runs SQL',
            format: { type: 'grammar', grammar: { definition: 'start: "select" NUMBER', syntax: 'lark' } },
          },
        },
        { type: 'custom', custom: { name: 'free', format: { type: 'text' } } },
      ],
      top_logprobs: 20,
      top_p: 1,
      user: 'user-123',
      verbosity: 'low',
      web_search_options: {
        search_context_size: 'medium',
        user_location: {
          type: 'approximate',
          approximate: { city: 'Paris', country: 'FR', timezone: 'Europe/Paris' },
        },
      },
    };
    expect(parseChatRequest(body)).toEqual(body);
  });

  it('accepts null for every nullable field', () => {
    const nulls = Object.fromEntries(
      [
        'audio',
        'frequency_penalty',
        'logit_bias',
        'logprobs',
        'max_completion_tokens',
        'max_tokens',
        'metadata',
        'modalities',
        'moderation',
        'n',
        'prediction',
        'presence_penalty',
        'prompt_cache_key',
        'prompt_cache_retention',
        'reasoning_effort',
        'safety_identifier',
        'seed',
        'service_tier',
        'stop',
        'store',
        'stream',
        'stream_options',
        'temperature',
        'top_logprobs',
        'top_p',
        'verbosity',
      ].map((field) => [field, null]),
    );
    expect(parseChatRequest(chat(nulls))).toEqual(chat(nulls));
  });

  it.each([
    ['none'],
    ['auto'],
    ['required'],
    [{ type: 'function', function: { name: 'f' } }],
    [{ type: 'custom', custom: { name: 'g' } }],
    [{ type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } }],
  ])('accepts tool_choice %j', (tool_choice) => {
    expect(parseChatRequest(chat({ tool_choice })).tool_choice).toEqual(tool_choice);
  });

  it.each([
    [{ type: 'text' }],
    [{ type: 'json_object' }],
    [{ type: 'json_schema', json_schema: { name: 'x' } }],
  ])('accepts response_format %j', (response_format) => {
    expect(parseChatRequest(chat({ response_format })).response_format).toEqual(response_format);
  });

  it.each(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'])(
    'accepts reasoning_effort %s',
    (effort) => {
      expect(parseChatRequest(chat({ reasoning_effort: effort })).reasoning_effort).toBe(effort);
    },
  );

  it('accepts the documented extremes of every range', () => {
    const extremes = [
      { temperature: 0, top_p: 0, frequency_penalty: -2, presence_penalty: -2, n: 1, top_logprobs: 0 },
      { temperature: 2, top_p: 1, frequency_penalty: 2, presence_penalty: 2, n: 128, top_logprobs: 20 },
      { logit_bias: { '1': -100, '2': 100 }, stop: 'END', metadata: { ['k'.repeat(64)]: 'v'.repeat(512) } },
    ];
    for (const extra of extremes) expect(() => parseChatRequest(chat(extra))).not.toThrow();
  });
});

describe('chat completions: invalid requests', () => {
  it('requires a JSON object body', () => {
    for (const body of [null, [], 'text', 3, true]) {
      expectChatError(body, 'Request body must be a JSON object', null, 'invalid_body');
    }
    // No body at all (an empty body under Content-Type: application/json parses as undefined).
    expectChatError(undefined, 'Request body is empty; send a JSON object', null, 'empty_body');
  });

  it('names an unknown field at the top level', () => {
    expectChatError(chat({ foo: 1 }), "Unrecognized request field 'foo'", 'foo', 'unknown_field');
  });

  it('names unknown fields nested in messages, parts, tools and options', () => {
    expectChatError(
      { model: 'm', messages: [{ role: 'user', content: 'x', foo: 1 }] },
      "Unrecognized request field 'messages[0].foo'",
      'messages[0].foo',
      'unknown_field',
    );
    expectChatError(
      {
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x', size: 1 } }] }],
      },
      "Unrecognized request field 'messages[0].content[0].image_url.size'",
      'messages[0].content[0].image_url.size',
      'unknown_field',
    );
    expectChatError(
      chat({ tools: [{ type: 'function', function: { name: 'f', parameters: {}, extra: true } }] }),
      "Unrecognized request field 'tools[0].function.extra'",
      'tools[0].function.extra',
      'unknown_field',
    );
    expectChatError(
      chat({ stream: true, stream_options: { include_usage: true, verbose: true } }),
      "Unrecognized request field 'stream_options.verbose'",
      'stream_options.verbose',
      'unknown_field',
    );
    // A field that belongs to another role is unknown on this one.
    expectChatError(
      { model: 'm', messages: [{ role: 'user', content: 'x', tool_call_id: 'c' }] },
      "Unrecognized request field 'messages[0].tool_call_id'",
      'messages[0].tool_call_id',
      'unknown_field',
    );
  });

  it('leaves free-form JSON (tool parameters, schemas) unchecked', () => {
    const parameters = { type: 'object', 'x-anything': { deep: [1, { two: 2 }] } };
    expect(() =>
      parseChatRequest(chat({ tools: [{ type: 'function', function: { name: 'f', parameters } }] })),
    ).not.toThrow();
  });

  it('names a missing required field', () => {
    expectChatError({ messages: [user] }, "Missing required field 'model'", 'model', 'missing_field');
    expectChatError({ model: 'm' }, "Missing required field 'messages'", 'messages', 'missing_field');
    expectChatError(
      { model: 'm', messages: [{ role: 'tool', content: 'x' }] },
      "Missing required field 'messages[0].tool_call_id'",
      'messages[0].tool_call_id',
      'missing_field',
    );
    expectChatError(
      { model: 'm', messages: [{ content: 'x' }] },
      "Missing required field 'messages[0].role'",
      'messages[0].role',
      'missing_field',
    );
    expectChatError(
      {
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'image_url', image_url: {} },
            ],
          },
        ],
      },
      "Missing required field 'messages[0].content[1].image_url.url'",
      'messages[0].content[1].image_url.url',
      'missing_field',
    );
    expectChatError(
      { model: 'm', messages: [{ role: 'user' }] },
      "Missing required field 'messages[0].content'",
      'messages[0].content',
      'missing_field',
    );
  });

  it('says what type was expected and what was received', () => {
    expectChatError(
      chat({ temperature: 'hot' }),
      "Invalid type for 'temperature': expected number, received string",
      'temperature',
      'invalid_type',
    );
    expectChatError(
      { model: 'm', messages: [{ role: 'user', content: 5 }] },
      "Invalid type for 'messages[0].content': expected string or array, received number",
      'messages[0].content',
      'invalid_type',
    );
    expectChatError(
      { model: 'm', messages: ['hello'] },
      "Invalid type for 'messages[0]': expected object, received string",
      'messages[0]',
      'invalid_type',
    );
    expectChatError(
      { model: 'm', messages: user },
      "Invalid type for 'messages': expected array, received object",
      'messages',
      'invalid_type',
    );
    expectChatError(
      chat({ stream: 'true' }),
      "Invalid type for 'stream': expected boolean, received string",
      'stream',
      'invalid_type',
    );
    expectChatError(
      chat({ n: 1.5 }),
      "Invalid type for 'n': expected integer, received number",
      'n',
      'invalid_type',
    );
    expectChatError(
      chat({ metadata: [] }),
      "Invalid type for 'metadata': expected object, received array",
      'metadata',
      'invalid_type',
    );
    expectChatError(
      chat({ tools: [{ type: 'function', function: { name: 'f', parameters: 'x' } }] }),
      "Invalid type for 'tools[0].function.parameters': expected object, received string",
      'tools[0].function.parameters',
      'invalid_type',
    );
    expectChatError(
      chat({ tool_choice: 5 }),
      "Invalid type for 'tool_choice': expected string or object, received number",
      'tool_choice',
      'invalid_type',
    );
    expectChatError(
      chat({ stop: ['a', 7] }),
      "Invalid type for 'stop[1]': expected string, received number",
      'stop[1]',
      'invalid_type',
    );
  });

  it('lists the allowed values of a discriminator or enumerated field', () => {
    expectChatError(
      { model: 'm', messages: [{ role: 'robot', content: 'x' }] },
      "Invalid value for 'messages[0].role': expected one of developer, system, user, assistant, tool, function",
      'messages[0].role',
      'invalid_value',
    );
    expectChatError(
      {
        model: 'm',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'video', video: {} },
            ],
          },
        ],
      },
      "Invalid value for 'messages[0].content[1].type': expected one of text, image_url, input_audio, file",
      'messages[0].content[1].type',
      'invalid_value',
    );
    expectChatError(
      {
        model: 'm',
        messages: [{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }],
      },
      "Invalid value for 'messages[0].content[0].type': expected text",
      'messages[0].content[0].type',
      'invalid_value',
    );
    expectChatError(
      chat({ reasoning_effort: 'extreme' }),
      "Invalid value for 'reasoning_effort': expected one of none, minimal, low, medium, high, xhigh, max",
      'reasoning_effort',
      'invalid_value',
    );
    expectChatError(
      chat({ tool_choice: 'any' }),
      "Invalid value for 'tool_choice': expected one of none, auto, required",
      'tool_choice',
      'invalid_value',
    );
    expectChatError(
      chat({ tool_choice: { type: 'tool', name: 'f' } }),
      "Invalid value for 'tool_choice.type': expected one of function, custom, allowed_tools",
      'tool_choice.type',
      'invalid_value',
    );
    expectChatError(
      chat({ response_format: { type: 'yaml' } }),
      "Invalid value for 'response_format.type': expected one of text, json_object, json_schema",
      'response_format.type',
      'invalid_value',
    );
    expectChatError(
      {
        model: 'm',
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'x', detail: 'max' } }] },
        ],
      },
      "Invalid value for 'messages[0].content[0].image_url.detail': expected one of auto, low, high",
      'messages[0].content[0].image_url.detail',
      'invalid_value',
    );
  });

  it('enforces the documented ranges', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ temperature: 2.5 }, 'temperature', "'temperature' must be at most 2"],
      [{ temperature: -0.1 }, 'temperature', "'temperature' must be at least 0"],
      [{ top_p: 1.1 }, 'top_p', "'top_p' must be at most 1"],
      [{ top_p: -0.1 }, 'top_p', "'top_p' must be at least 0"],
      [{ frequency_penalty: -2.1 }, 'frequency_penalty', "'frequency_penalty' must be at least -2"],
      [{ presence_penalty: 3 }, 'presence_penalty', "'presence_penalty' must be at most 2"],
      [{ n: 0 }, 'n', "'n' must be at least 1"],
      [{ n: 129 }, 'n', "'n' must be at most 128"],
      [{ top_logprobs: 21 }, 'top_logprobs', "'top_logprobs' must be at most 20"],
      [{ top_logprobs: -1 }, 'top_logprobs', "'top_logprobs' must be at least 0"],
      [{ max_tokens: 0 }, 'max_tokens', "'max_tokens' must be at least 1"],
      [{ max_completion_tokens: 0 }, 'max_completion_tokens', "'max_completion_tokens' must be at least 1"],
      [{ logit_bias: { '50256': -101 } }, 'logit_bias.50256', "'logit_bias.50256' must be at least -100"],
    ];
    for (const [extra, param, message] of cases) {
      expectChatError(chat(extra), message, param, 'invalid_value');
    }
  });

  it('enforces sizes and lengths', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ messages: [] }, 'messages', "'messages' must have at least 1 item"],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', "'stop' must have at most 4 items"],
      [{ user: 'u'.repeat(257) }, 'user', "'user' must be at most 256 characters long"],
      [
        { safety_identifier: 's'.repeat(65) },
        'safety_identifier',
        "'safety_identifier' must be at most 64 characters long",
      ],
      [{ model: '' }, 'model', "'model' must be at least 1 character long"],
      [
        { metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
        'metadata',
        "'metadata' must have at most 16 entries",
      ],
      [
        { metadata: { ['k'.repeat(65)]: 'v' } },
        'metadata',
        "Keys of 'metadata' must be at most 64 characters long",
      ],
      [
        { metadata: { note: 'v'.repeat(513) } },
        'metadata.note',
        "'metadata.note' must be at most 512 characters long",
      ],
      [{ logit_bias: { hello: 1 } }, 'logit_bias', "Keys of 'logit_bias' must match /^\\d+$/"],
      [
        { tools: Array.from({ length: 513 }, () => ({ type: 'function', function: { name: 'f' } })) },
        'tools',
        "'tools' must have at most 512 items",
      ],
      [
        { tools: [{ type: 'function', function: { name: 'f'.repeat(65) } }] },
        'tools[0].function.name',
        "'tools[0].function.name' must be at most 64 characters long",
      ],
    ];
    for (const [extra, param, message] of cases) {
      expectChatError(chat(extra), message, param, 'invalid_value');
    }
    const parts = Array.from({ length: 1001 }, () => ({ type: 'text', text: 'x' }));
    expectChatError(
      { model: 'm', messages: [{ role: 'user', content: parts }] },
      "'messages[0].content' must have at most 1000 items",
      'messages[0].content',
      'invalid_value',
    );
    const many = Array.from({ length: 10_001 }, () => user);
    expectChatError(
      { model: 'm', messages: many },
      "'messages' must have at most 10000 items",
      'messages',
      'invalid_value',
    );
  });

  it('holds function and schema names to the API rule', () => {
    expectChatError(
      chat({ tools: [{ type: 'function', function: { name: 'has space' } }] }),
      "Invalid format for 'tools[0].function.name': expected a string matching /^[a-zA-Z0-9_-]+$/",
      'tools[0].function.name',
      'invalid_value',
    );
    expectChatError(
      chat({ response_format: { type: 'json_schema', json_schema: { name: 'a.b' } } }),
      "Invalid format for 'response_format.json_schema.name': expected a string matching /^[a-zA-Z0-9_-]+$/",
      'response_format.json_schema.name',
      'invalid_value',
    );
  });

  it('reports the first issue only, the same way every time', () => {
    const body = chat({ temperature: 'x', top_p: 9, bogus: true });
    const first = rejectChat(body);
    expect(first.param).toBe('temperature');
    expect(rejectChat(body)).toEqual(first);
  });

  it('never echoes the value that was refused', () => {
    const canary = 'sk-canary-0123456789abcdef';
    const bodies: unknown[] = [
      chat({ temperature: canary }),
      chat({ reasoning_effort: canary }),
      chat({ tool_choice: canary }),
      chat({ stop: [canary, canary, canary, canary, canary] }),
      chat({ foo: canary }),
      chat({ user: `${canary}${'x'.repeat(300)}` }),
      chat({ metadata: { note: canary.repeat(40) } }),
      chat({ metadata: { [canary.repeat(4)]: 'v' } }),
      chat({ logit_bias: { [canary]: 1 } }),
      chat({ tools: [{ type: 'function', function: { name: canary.replace(/-/g, ' ') } }] }),
      chat({ response_format: { type: canary } }),
      { model: canary.repeat(20), messages: [user] },
      { model: 'm', messages: [{ role: canary, content: 'x' }] },
      { model: 'm', messages: [{ role: 'user', content: [{ type: canary }] }] },
      {
        model: 'm',
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: canary, detail: canary } }] },
        ],
      },
      { model: 'm', messages: [{ role: 'user', content: { text: canary } }] },
      { model: 'm', messages: [canary] },
    ];
    for (const body of bodies) {
      const { message, param } = rejectChat(body);
      expect(message).not.toContain('canary');
      expect(String(param)).not.toContain('canary');
    }
  });
});

describe('embeddings', () => {
  it.each([
    ['a string', 'hello'],
    ['strings', ['a', 'b']],
    ['token ids', [1, 2, 3]],
    ['token id arrays', [[1, 2], [3]]],
  ])('accepts %s', (_name, input) => {
    const body = {
      model: 'text-embedding-3-small',
      input,
      encoding_format: 'base64',
      dimensions: 256,
      user: 'u',
    };
    expect(parseEmbeddingsRequest(body)).toEqual(body);
  });

  it('accepts exactly 2048 inputs', () => {
    const input = Array.from({ length: 2048 }, () => 'x');
    expect(parseEmbeddingsRequest({ model: 'e', input }).input).toHaveLength(2048);
  });

  it('refuses more than 2048 inputs', () => {
    expect(
      rejection(() => parseEmbeddingsRequest({ model: 'e', input: Array.from({ length: 2049 }, () => 'x') })),
    ).toEqual({
      status: 400,
      type: 'invalid_request_error',
      message: "'input' must have at most 2048 items",
      param: 'input',
      code: 'invalid_value',
    });
  });

  it('refuses empty input, bad types, bad options and unknown fields', () => {
    const cases: Array<[Record<string, unknown>, string, string | null, string]> = [
      [{ input: '' }, "'input' must be at least 1 character long", 'input', 'invalid_value'],
      [{ input: [] }, "'input' must have at least 1 item", 'input', 'invalid_value'],
      [{ input: ['a', ''] }, "'input[1]' must be at least 1 character long", 'input[1]', 'invalid_value'],
      [
        { input: 42 },
        "Invalid type for 'input': expected string or array, received number",
        'input',
        'invalid_type',
      ],
      [
        { input: [1.5] },
        "Invalid type for 'input[0]': expected string, received number",
        'input[0]',
        'invalid_type',
      ],
      [
        { input: 'x', encoding_format: 'hex' },
        "Invalid value for 'encoding_format': expected one of float, base64",
        'encoding_format',
        'invalid_value',
      ],
      [{ input: 'x', dimensions: 0 }, "'dimensions' must be at least 1", 'dimensions', 'invalid_value'],
      [{ input: 'x', format: 'float' }, "Unrecognized request field 'format'", 'format', 'unknown_field'],
      [{}, "Missing required field 'input'", 'input', 'missing_field'],
    ];
    for (const [extra, message, param, code] of cases) {
      expect(rejection(() => parseEmbeddingsRequest({ model: 'e', ...extra }))).toEqual({
        status: 400,
        type: 'invalid_request_error',
        message,
        param,
        code,
      });
    }
    expect(rejection(() => parseEmbeddingsRequest({ input: 'x' }))).toMatchObject({
      message: "Missing required field 'model'",
      code: 'missing_field',
    });
    expect(rejection(() => parseEmbeddingsRequest([]))).toMatchObject({
      message: 'Request body must be a JSON object',
    });
  });

  it('never echoes the value that was refused', () => {
    const canary = 'sk-canary-0123456789abcdef';
    for (const extra of [
      { input: 5, user: canary.repeat(20) },
      { input: 'x', encoding_format: canary },
      { input: [canary, 3] },
    ]) {
      expect(rejection(() => parseEmbeddingsRequest({ model: 'e', ...extra })).message).not.toContain(
        'canary',
      );
    }
  });
});
