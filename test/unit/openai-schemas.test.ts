import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/server/errors.js';
import { parseChatRequest, parseEmbeddingsRequest } from '../../src/surfaces/openai/validate.js';

function rejection(fn: () => unknown): {
  status: number;
  message: string;
  param: string | null;
  code: string | null;
} {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    const e = error as GatewayError;
    return { status: e.status, message: e.message, param: e.param, code: e.code };
  }
  throw new Error('expected a rejection');
}

const user = { role: 'user', content: 'hi' };

describe('chat completions schema', () => {
  it('accepts a request using every documented field and content kind', () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'developer', content: 'Follow the rules.' },
        { role: 'system', content: [{ type: 'text', text: 'Be brief.' }], name: 'sys' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } },
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERi0=', filename: 'a.pdf' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          refusal: null,
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
            { id: 'call_3', type: 'custom', custom: { name: 'sql', input: 'select 1' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp_c":18}' },
        { role: 'tool', tool_call_id: 'call_2', content: [{ type: 'text', text: '{"temp_c":22}' }] },
        { role: 'assistant', content: [{ type: 'refusal', refusal: 'No.' }], audio: { id: 'audio_1' } },
      ],
      tools: [
        {
          type: 'function',
          function: {
            name: 'get_weather',
            description: 'Weather',
            parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            strict: true,
          },
        },
        {
          type: 'custom',
          custom: {
            name: 'sql',
            format: { type: 'grammar', grammar: { definition: 'start: x', syntax: 'lark' } },
          },
        },
      ],
      tool_choice: {
        type: 'allowed_tools',
        allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'get_weather' } }] },
      },
      parallel_tool_calls: true,
      response_format: {
        type: 'json_schema',
        json_schema: { name: 'answer', schema: { type: 'object', properties: {} }, strict: true },
      },
      stream: true,
      stream_options: { include_usage: true, include_obfuscation: false },
      n: 1,
      logprobs: true,
      top_logprobs: 5,
      logit_bias: { '50256': -100 },
      max_completion_tokens: 1000,
      max_tokens: 1000,
      temperature: 0.7,
      top_p: 0.9,
      frequency_penalty: 0.5,
      presence_penalty: -0.5,
      seed: 42,
      stop: ['\n\n', 'END'],
      user: 'user-123',
      safety_identifier: 'hash-abc',
      prompt_cache_key: 'cache-1',
      metadata: { team: 'search' },
      reasoning_effort: 'low',
      verbosity: 'medium',
      service_tier: 'auto',
      store: false,
      modalities: ['text', 'audio'],
      audio: { voice: 'alloy', format: 'mp3' },
      prediction: { type: 'content', content: 'draft' },
      web_search_options: { search_context_size: 'low' },
    };
    expect(parseChatRequest(body)).toEqual(body);
  });

  it.each([
    ['none'],
    ['auto'],
    ['required'],
    [{ type: 'function', function: { name: 'f' } }],
    [{ type: 'custom', custom: { name: 'g' } }],
  ])('accepts tool_choice %j', (tool_choice) => {
    expect(() => parseChatRequest({ model: 'm', messages: [user], tool_choice })).not.toThrow();
  });

  it.each([{ type: 'text' }, { type: 'json_object' }])('accepts response_format %j', (response_format) => {
    expect(() => parseChatRequest({ model: 'm', messages: [user], response_format })).not.toThrow();
  });

  it('names an unknown field at the top level and nested', () => {
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [user], foo: 1 }))).toEqual({
      status: 400,
      message: "Unrecognized request field 'foo'",
      param: 'foo',
      code: 'unknown_field',
    });
    const nested = rejection(() =>
      parseChatRequest({
        model: 'm',
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x', size: 1 } }] }],
      }),
    );
    expect(nested).toMatchObject({ param: 'messages[0].content[0].image_url.size', code: 'unknown_field' });
  });

  it('says which field is missing', () => {
    expect(rejection(() => parseChatRequest({ messages: [user] }))).toEqual({
      status: 400,
      message: "Missing required field 'model'",
      param: 'model',
      code: 'missing_field',
    });
    expect(
      rejection(() => parseChatRequest({ model: 'm', messages: [{ role: 'tool', content: 'x' }] })),
    ).toMatchObject({
      param: 'messages[0].tool_call_id',
      code: 'missing_field',
    });
  });

  it('says what type was expected', () => {
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [user], temperature: 'hot' }))).toEqual({
      status: 400,
      message: "Invalid type for 'temperature': expected number, received string",
      param: 'temperature',
      code: 'invalid_type',
    });
    expect(
      rejection(() => parseChatRequest({ model: 'm', messages: [{ role: 'user', content: 5 }] })),
    ).toMatchObject({
      message: "Invalid type for 'messages[0].content': expected string or array, received number",
      code: 'invalid_type',
    });
  });

  it('lists the allowed values of an enumerated field', () => {
    expect(
      rejection(() => parseChatRequest({ model: 'm', messages: [{ role: 'robot', content: 'x' }] })),
    ).toEqual({
      status: 400,
      message:
        "Invalid value for 'messages[0].role': expected one of developer, system, user, assistant, tool, function",
      param: 'messages[0].role',
      code: 'invalid_value',
    });
    expect(
      rejection(() => parseChatRequest({ model: 'm', messages: [user], reasoning_effort: 'max' })),
    ).toMatchObject({
      param: 'reasoning_effort',
      code: 'invalid_value',
    });
  });

  it('enforces the documented ranges and sizes', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ temperature: 2.5 }, 'temperature', "'temperature' must be at most 2"],
      [{ top_p: -0.1 }, 'top_p', "'top_p' must be at least 0"],
      [{ n: 0 }, 'n', "'n' must be at least 1"],
      [{ top_logprobs: 21 }, 'top_logprobs', "'top_logprobs' must be at most 20"],
      [{ stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', "'stop' must be at most 4 items long"],
      [{ presence_penalty: 3 }, 'presence_penalty', "'presence_penalty' must be at most 2"],
      [{ user: 'u'.repeat(300) }, 'user', "'user' must be at most 256 characters long"],
    ];
    for (const [extra, param, message] of cases) {
      expect(rejection(() => parseChatRequest({ model: 'm', messages: [user], ...extra }))).toMatchObject({
        param,
        message,
      });
    }
    const tooManyKeys = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(
      rejection(() => parseChatRequest({ model: 'm', messages: [user], metadata: tooManyKeys })).param,
    ).toBe('metadata');
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [] })).param).toBe('messages');
    const badName = { type: 'function', function: { name: 'has space' } };
    expect(rejection(() => parseChatRequest({ model: 'm', messages: [user], tools: [badName] })).param).toBe(
      'tools[0].function.name',
    );
  });

  it('never echoes the value that was refused', () => {
    const canary = 'sk-canary-0123456789abcdef';
    for (const extra of [
      { temperature: canary },
      { reasoning_effort: canary },
      { stop: [canary, canary, canary, canary, canary] },
    ]) {
      expect(
        rejection(() => parseChatRequest({ model: 'm', messages: [user], ...extra })).message,
      ).not.toContain(canary);
    }
  });

  it('requires a JSON object', () => {
    for (const body of [null, [], 'text', 3]) {
      expect(rejection(() => parseChatRequest(body))).toMatchObject({
        message: 'Request body must be a JSON object',
      });
    }
  });
});

describe('embeddings schema', () => {
  it.each([
    ['a string', 'hello'],
    ['strings', ['a', 'b']],
    ['token ids', [1, 2, 3]],
    ['token id arrays', [[1, 2], [3]]],
  ])('accepts %s', (_name, input) => {
    expect(
      parseEmbeddingsRequest({ model: 'e', input, encoding_format: 'base64', dimensions: 256, user: 'u' }),
    ).toMatchObject({
      input,
    });
  });

  it('refuses more than 2048 inputs, empty input and unknown fields', () => {
    expect(
      rejection(() => parseEmbeddingsRequest({ model: 'e', input: Array.from({ length: 2049 }, () => 'x') }))
        .param,
    ).toBe('input');
    expect(rejection(() => parseEmbeddingsRequest({ model: 'e', input: '' })).param).toBe('input');
    expect(
      rejection(() => parseEmbeddingsRequest({ model: 'e', input: 'x', format: 'float' })),
    ).toMatchObject({
      param: 'format',
      code: 'unknown_field',
    });
  });
});
