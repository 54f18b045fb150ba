import type OpenAI from 'openai';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import type { ChatRequest, ChatResponse, StopReason, StreamEvent } from '../../../src/canonical/model.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import {
  type ChatCompletionBody,
  type ChatCompletionChunkBody,
  openAISurface,
} from '../../../src/surfaces/openai/canonical.js';
import type { ChatCompletionRequest } from '../../../src/surfaces/openai/chat-schema.js';
import { parseChatRequest } from '../../../src/surfaces/openai/validate.js';
import { rejection as gatewayRejection } from '../../support/rejection.js';
import { refusal as rejection } from './thrown.js';

const CALL_ID = /^call_[0-9a-f]{24}$/;
const COMPLETION_ID = /^chatcmpl-[0-9a-f]{24}$/;
/** 2025-01-02T03:04:05Z, the faked clock. */
const NOW = 1_735_787_045;

/** Bodies go through the surface's validator first, as they do in the gateway. */
const canonical = (body: Record<string, unknown>): ChatRequest =>
  openAISurface.toCanonical(parseChatRequest({ model: 'gpt-4o', ...body }));

const withMessages = (...messages: unknown[]): ChatRequest => canonical({ messages });

const hi = { role: 'user', content: 'Hi' };
const hiCanonical: ChatRequest['messages'][number] = {
  role: 'user',
  content: [{ type: 'text', text: 'Hi' }],
};

/** The canonical request for `{model, messages: [hi]}`, plus what a test adds. */
function expected(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'gpt-4o',
    system: [],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    stream: false,
    ...overrides,
  };
}

const rejectBody = (body: Record<string, unknown>) => rejection(() => canonical(body));

describe('openAISurface.toCanonical: messages', () => {
  it('maps a plain user message and defaults', () => {
    expect(canonical({ messages: [hi] })).toEqual(expected());
  });

  it('hoists system and developer messages into the system prompt, in order, wherever they stand', () => {
    expect(
      withMessages(
        { role: 'system', content: 'Be brief.' },
        hi,
        {
          role: 'developer',
          content: [
            { type: 'text', text: 'Answer in French.' },
            { type: 'text', text: 'No emoji.' },
          ],
        },
        { role: 'assistant', content: 'Salut' },
        { role: 'system', content: 'Stay polite.', name: 'ops' },
        { role: 'user', content: 'Ça va ?', name: 'alice' },
      ),
    ).toEqual(
      expected({
        system: [
          { type: 'text', text: 'Be brief.' },
          { type: 'text', text: 'Answer in French.' },
          { type: 'text', text: 'No emoji.' },
          { type: 'text', text: 'Stay polite.' },
        ],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Salut' }] },
          { role: 'user', content: [{ type: 'text', text: 'Ça va ?' }] },
        ],
      }),
    );
  });

  it('maps user text, images and files', () => {
    const request = withMessages({
      role: 'user',
      content: [
        { type: 'text', text: 'Look:', prompt_cache_breakpoint: { mode: 'explicit' } },
        { type: 'image_url', image_url: { url: 'data:image/PNG;base64,iVBORw0KGgo=', detail: 'low' } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'high' } },
        { type: 'image_url', image_url: { url: 'HTTP://example.com/dog.gif' } },
        {
          type: 'file',
          file: { file_data: 'data:application/pdf;name=a.pdf;base64,JVBERi0xLjQ=', filename: 'a.pdf' },
        },
        { type: 'file', file: { file_id: 'file-abc123' } },
        { type: 'file', file: { file_id: 'file-def456', filename: 'b.pdf' } },
      ],
    });
    expect(request.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look:', cacheBreakpoint: true },
          {
            type: 'image',
            source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' },
            detail: 'low',
          },
          { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' }, detail: 'high' },
          { type: 'image', source: { kind: 'url', url: 'HTTP://example.com/dog.gif' } },
          {
            type: 'document',
            source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0xLjQ=' },
            filename: 'a.pdf',
          },
          { type: 'document', source: { kind: 'file', fileId: 'file-abc123', issuer: 'openai' } },
          {
            type: 'document',
            source: { kind: 'file', fileId: 'file-def456', issuer: 'openai' },
            filename: 'b.pdf',
          },
        ],
      },
    ]);
  });

  it('takes audio input, and a file of audio or video, as audio and video parts (with its filename)', () => {
    const user = (part: unknown) => withMessages({ role: 'user', content: [part] }).messages[0]!.content[0];
    expect(user({ type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } })).toEqual({
      type: 'audio',
      source: { kind: 'base64', mediaType: 'audio/wav', data: 'UklGRg==' },
    });
    expect(user({ type: 'input_audio', input_audio: { data: 'SUQz', format: 'mp3' } })).toEqual({
      type: 'audio',
      source: { kind: 'base64', mediaType: 'audio/mpeg', data: 'SUQz' },
    });
    expect(
      user({ type: 'file', file: { filename: 'a.mp4', file_data: 'data:video/mp4;base64,AAAA' } }),
    ).toEqual({
      type: 'video',
      source: { kind: 'base64', mediaType: 'video/mp4', data: 'AAAA' },
      filename: 'a.mp4',
    });
  });

  it('refuses malformed images and files as invalid, naming the part', () => {
    const user = (part: unknown) => () =>
      withMessages(hi, { role: 'user', content: [{ type: 'text', text: 'x' }, part] });
    const invalid = { status: 400, type: 'invalid_request_error', code: 'invalid_value' };
    const badImage = {
      ...invalid,
      message: 'An image URL must be an http(s) URL or a base64 data URL (data:<media type>;base64,<data>)',
      param: 'messages[1].content[1].image_url.url',
    };
    for (const url of [
      'data:image/png,iVBORw0KGgo=',
      'data:image/png;base64,',
      'data:;base64,iVBORw0KGgo=',
      'data:image/png;base64,not base64!',
      'ftp://example.com/cat.jpg',
      'file:///etc/passwd',
    ]) {
      expect(gatewayRejection(user({ type: 'image_url', image_url: { url } }))).toEqual(badImage);
    }
    expect(gatewayRejection(user({ type: 'file', file: { file_data: 'JVBERi0xLjQ=' } }))).toEqual({
      ...invalid,
      message: 'file_data must be a base64 data URL (data:<media type>;base64,<data>)',
      param: 'messages[1].content[1].file.file_data',
    });
    const oneOf = {
      ...invalid,
      message: 'A file part needs exactly one of file_data and file_id',
      param: 'messages[1].content[1].file',
    };
    expect(gatewayRejection(user({ type: 'file', file: { filename: 'a.pdf' } }))).toEqual(oneOf);
    expect(
      gatewayRejection(
        user({ type: 'file', file: { file_id: 'file-1', file_data: 'data:application/pdf;base64,JVBE' } }),
      ),
    ).toEqual(oneOf);
  });

  it('maps assistant text, refusals and tool calls, skipping empty text', () => {
    expect(
      withMessages(
        hi,
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Checking.' },
            { type: 'refusal', refusal: 'Not that part.' },
            { type: 'text', text: '' },
          ],
          refusal: 'I will not guess.',
          name: 'bot',
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '' } },
          ],
        },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ id: 'call_3', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
        { role: 'assistant', content: null, refusal: null, audio: null },
      ).messages,
    ).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'text', text: 'Not that part.' },
          { type: 'text', text: 'I will not guess.' },
          { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'tool_call', id: 'call_2', name: 'get_time', arguments: '' },
        ],
      },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call_3', name: 'f', arguments: '{}' }] },
      { role: 'assistant', content: [] },
    ]);
  });

  it('maps custom tool calls in the history, and refuses audio answers', () => {
    expect(
      withMessages(hi, {
        role: 'assistant',
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } },
          { id: 'call_2', type: 'custom', custom: { name: 'sql', input: 'SELECT 1' } },
        ],
      }).messages[1],
    ).toEqual({
      role: 'assistant',
      content: [
        { type: 'tool_call', id: 'call_1', name: 'f', arguments: '{}' },
        { type: 'tool_call', id: 'call_2', name: 'sql', arguments: 'SELECT 1', custom: true },
      ],
    });
    expect(rejection(() => withMessages(hi, { role: 'assistant', audio: { id: 'audio_1' } }))).toEqual({
      message: "The model's provider does not support audio answers",
      param: 'messages[1].audio',
    });
  });

  it('merges consecutive tool results and the user message after them into one user turn', () => {
    expect(
      withMessages(
        hi,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: '18°C' },
        { role: 'developer', content: 'Use Celsius.' },
        {
          role: 'tool',
          tool_call_id: 'call_b',
          content: [
            { type: 'text', text: '12:00' },
            { type: 'text', text: 'CET' },
          ],
        },
        { role: 'tool', tool_call_id: 'call_unknown', content: '' },
        { role: 'user', content: 'Thanks. And tomorrow?' },
        { role: 'user', content: 'In Oslo too.' },
      ),
    ).toEqual(
      expected({
        system: [{ type: 'text', text: 'Use Celsius.' }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          {
            role: 'assistant',
            content: [
              { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
              { type: 'tool_call', id: 'call_b', name: 'get_time', arguments: '{}' },
            ],
          },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                toolCallId: 'call_a',
                name: 'get_weather',
                content: [{ type: 'text', text: '18°C' }],
              },
              {
                type: 'tool_result',
                toolCallId: 'call_b',
                name: 'get_time',
                content: [
                  { type: 'text', text: '12:00' },
                  { type: 'text', text: 'CET' },
                ],
              },
              { type: 'tool_result', toolCallId: 'call_unknown', content: [{ type: 'text', text: '' }] },
              { type: 'text', text: 'Thanks. And tomorrow?' },
            ],
          },
          { role: 'user', content: [{ type: 'text', text: 'In Oslo too.' }] },
        ],
      }),
    );
  });

  it('gives a legacy function_call an id that the function message answering it uses', () => {
    const request = withMessages(
      hi,
      {
        role: 'assistant',
        content: null,
        function_call: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
      },
      { role: 'function', name: 'get_weather', content: '-3°C' },
      { role: 'assistant', content: 'Cold.', function_call: { name: 'get_time', arguments: '{}' } },
      { role: 'function', name: 'get_time', content: null },
    );
    const [, first, firstResult, second, secondResult] = request.messages;
    const firstId = first?.content[0]?.type === 'tool_call' ? first.content[0].id : '';
    const secondId = second?.content[1]?.type === 'tool_call' ? second.content[1].id : '';
    expect(firstId).toMatch(CALL_ID);
    expect(secondId).toMatch(CALL_ID);
    expect(secondId).not.toBe(firstId);
    expect([first, firstResult, second, secondResult]).toEqual([
      {
        role: 'assistant',
        content: [{ type: 'tool_call', id: firstId, name: 'get_weather', arguments: '{"city":"Oslo"}' }],
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            toolCallId: firstId,
            name: 'get_weather',
            content: [{ type: 'text', text: '-3°C' }],
          },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Cold.' },
          { type: 'tool_call', id: secondId, name: 'get_time', arguments: '{}' },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', toolCallId: secondId, name: 'get_time', content: [] }],
      },
    ]);
  });

  it('pairs a function message with the last call of its name in the conversation before the body', () => {
    const earlier: ChatRequest['messages'] = [
      hiCanonical,
      {
        role: 'assistant',
        content: [
          { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{}' },
          { type: 'tool_call', id: 'toolu_2', name: 'get_time', arguments: '{}' },
        ],
      },
      { role: 'user', content: [{ type: 'tool_result', toolCallId: 'toolu_1', content: [] }] },
      {
        role: 'assistant',
        content: [{ type: 'tool_call', id: 'toolu_3', name: 'get_weather', arguments: '{}' }],
      },
    ];
    const body = parseChatRequest({
      model: 'gpt-4o',
      messages: [{ role: 'function', name: 'get_weather', content: '-3°C' }],
      functions: [{ name: 'get_weather' }],
    });
    expect(openAISurface.toCanonical(body, earlier).messages).toEqual([
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            toolCallId: 'toolu_3',
            name: 'get_weather',
            content: [{ type: 'text', text: '-3°C' }],
          },
        ],
      },
    ]);
  });

  it("refuses a function message that answers no function_call, as the request's fault", () => {
    expect(
      gatewayRejection(() => withMessages(hi, { role: 'function', name: 'get_weather', content: '-3°C' })),
    ).toEqual({
      status: 400,
      type: 'invalid_request_error',
      code: 'invalid_value',
      message:
        'A function message must answer an earlier assistant function_call of the same name that no function message has answered yet',
      param: 'messages[1].name',
    });
  });
});

describe('openAISurface.toCanonical: tools', () => {
  const weather = {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
  };

  it('maps function tools and the legacy functions', () => {
    expect(
      canonical({
        messages: [hi],
        tools: [
          {
            type: 'function',
            function: { name: 'get_weather', description: 'Weather', parameters: weather, strict: true },
          },
          { type: 'function', function: { name: 'get_time', strict: null } },
        ],
        functions: [{ name: 'legacy', description: 'Old style', parameters: weather }, { name: 'bare' }],
        parallel_tool_calls: false,
      }),
    ).toEqual(
      expected({
        tools: [
          { name: 'get_weather', description: 'Weather', parameters: weather, strict: true },
          { name: 'get_time', parameters: { type: 'object', properties: {} } },
          { name: 'legacy', description: 'Old style', parameters: weather },
          { name: 'bare', parameters: { type: 'object', properties: {} } },
        ],
        parallelToolCalls: false,
      }),
    );
  });

  it('maps custom tools to their canonical form, grammar unnested', () => {
    const grammar = { definition: 'start: /SELECT .*/', syntax: 'lark' };
    const [tool] =
      canonical({
        messages: [hi],
        tools: [{ type: 'custom', custom: { name: 'sql', format: { type: 'grammar', grammar } } }],
      }).tools ?? [];
    expect(tool).toMatchObject({
      name: 'sql',
      parameters: { properties: { input: { type: 'string' } }, required: ['input'] },
      custom: { format: { type: 'grammar', ...grammar } },
    });
  });

  it('maps tool_choice and the legacy function_call', () => {
    const choice = (body: Record<string, unknown>) => canonical({ messages: [hi], ...body }).toolChoice;
    expect(choice({})).toBeUndefined();
    expect(choice({ tool_choice: 'none' })).toEqual({ type: 'none' });
    expect(choice({ tool_choice: 'auto' })).toEqual({ type: 'auto' });
    expect(choice({ tool_choice: 'required' })).toEqual({ type: 'required' });
    expect(choice({ tool_choice: { type: 'function', function: { name: 'get_weather' } } })).toEqual({
      type: 'tool',
      name: 'get_weather',
    });
    expect(choice({ function_call: 'none' })).toEqual({ type: 'none' });
    expect(choice({ function_call: 'auto' })).toEqual({ type: 'auto' });
    expect(choice({ function_call: { name: 'legacy' } })).toEqual({ type: 'tool', name: 'legacy' });
    // The current field wins over the deprecated one.
    expect(choice({ tool_choice: 'required', function_call: 'none' })).toEqual({ type: 'required' });
  });

  it('names a custom tool choice as a tool, and an allowed_tools choice by its tools', () => {
    expect(
      canonical({ messages: [hi], tool_choice: { type: 'custom', custom: { name: 'sql' } } }).toolChoice,
    ).toEqual({ type: 'tool', name: 'sql' });
    const tools = [
      { type: 'function', function: { name: 'f' } },
      { type: 'custom', custom: { name: 'sql' } },
    ];
    const allowed = (refs: unknown[]) =>
      canonical({
        messages: [hi],
        tools,
        tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: refs } },
      }).toolChoice;
    expect(
      allowed([
        { type: 'function', function: { name: 'f' } },
        { type: 'custom', custom: { name: 'sql' } },
      ]),
    ).toEqual({ type: 'allowed', mode: 'required', names: ['f', 'sql'] });
    expect(() => allowed([{ type: 'function', function: { name: 'g' } }])).toThrow(
      expect.objectContaining({ status: 400, param: 'tool_choice.allowed_tools.tools[0]' }),
    );
  });
});

describe('openAISurface.toCanonical: parameters', () => {
  it('maps sampling, limits, format, reasoning, user and stream', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } } };
    expect(
      canonical({
        messages: [hi],
        max_completion_tokens: 512,
        max_tokens: 100,
        temperature: 0.2,
        top_p: 0.9,
        stop: ['END', '###'],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'answer', description: 'The answer', schema, strict: true },
        },
        reasoning_effort: 'high',
        safety_identifier: 'hashed-user',
        user: 'legacy-user',
        stream: true,
        stream_options: { include_usage: true },
      }),
    ).toEqual(
      expected({
        maxTokens: 512,
        temperature: 0.2,
        topP: 0.9,
        stop: ['END', '###'],
        responseFormat: {
          type: 'json_schema',
          name: 'answer',
          description: 'The answer',
          schema,
          strict: true,
        },
        thinking: { enabled: true, effort: 'high' },
        user: 'hashed-user',
        stream: true,
      }),
    );
  });

  it('maps seed and penalties, zero penalties included, and leaves null ones out', () => {
    expect(canonical({ messages: [hi], seed: 42, frequency_penalty: 0.5, presence_penalty: -0.5 })).toEqual(
      expected({ seed: 42, frequencyPenalty: 0.5, presencePenalty: -0.5 }),
    );
    expect(canonical({ messages: [hi], seed: 0, frequency_penalty: 0, presence_penalty: 0 })).toEqual(
      expected({ seed: 0, frequencyPenalty: 0, presencePenalty: 0 }),
    );
    expect(
      canonical({ messages: [hi], seed: null, frequency_penalty: null, presence_penalty: null }),
    ).toStrictEqual(expected());
  });

  it('falls back to the deprecated fields and takes a single stop string', () => {
    expect(
      canonical({
        messages: [hi],
        max_completion_tokens: null,
        max_tokens: 100,
        stop: 'END',
        response_format: { type: 'json_schema', json_schema: { name: 'answer', strict: null } },
        reasoning_effort: 'none',
        safety_identifier: null,
        user: 'legacy-user',
        stream: false,
        temperature: null,
        top_p: null,
      }),
    ).toEqual(
      expected({
        maxTokens: 100,
        stop: ['END'],
        responseFormat: { type: 'json_schema', name: 'answer' },
        thinking: { enabled: false, effort: 'none' },
        user: 'legacy-user',
      }),
    );
    expect(canonical({ messages: [hi], response_format: { type: 'json_object' } })).toEqual(
      expected({ responseFormat: { type: 'json_object' } }),
    );
    expect(canonical({ messages: [hi], response_format: { type: 'text' }, stop: null })).toEqual(
      expected({ responseFormat: { type: 'text' } }),
    );
  });

  it('refuses fields that would change the answer, naming each', () => {
    const cases: Array<[string, unknown]> = [
      ['n', 2],
      ['logprobs', true],
      ['top_logprobs', 3],
      ['logit_bias', { '50256': -100 }],
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['modalities', ['text', 'audio']],
      ['web_search_options', {}],
      ['moderation', { model: 'omni-moderation-latest' }],
    ];
    for (const [field, value] of cases) {
      expect(rejectBody({ messages: [hi], [field]: value })).toEqual({
        message: `The model's provider does not support '${field}'`,
        param: field,
      });
    }
  });

  it('accepts those fields at values that change nothing, and drops pure hints', () => {
    expect(
      canonical({
        messages: [hi],
        n: 1,
        logprobs: false,
        top_logprobs: 0,
        logit_bias: {},
        audio: null,
        modalities: ['text'],
        prediction: { type: 'content', content: 'draft' },
        moderation: null,
        store: true,
        metadata: { team: 'search' },
        service_tier: 'flex',
        prompt_cache_key: 'conversation-1',
        prompt_cache_options: { mode: 'explicit', ttl: '30m' },
        prompt_cache_retention: '24h',
        verbosity: 'low',
        stream_options: { include_usage: true },
      }),
    ).toEqual(expected());
  });
});

describe('openAISurface.fromCanonical', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-01-02T03:04:05Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const usage = {
    inputTokens: 120,
    outputTokens: 40,
    cachedTokens: 64,
    cacheCreationTokens: 10,
    reasoningTokens: 25,
  };

  it('builds a chat.completion with text, reasoning and tool calls', () => {
    const response: ChatResponse = {
      id: 'msg_01ABC',
      model: 'claude-sonnet-4-5',
      content: [
        { type: 'thinking', text: 'Two cities, ', signature: 'c2ln' },
        { type: 'redacted_thinking', data: 'ZW5jcnlwdGVk' },
        { type: 'thinking', text: 'two calls.' },
        { type: 'text', text: 'Let me check ' },
        { type: 'text', text: 'both.' },
        { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        {
          type: 'tool_call',
          id: 'toolu_2',
          name: 'get_weather',
          arguments: '{"city":"Oslo"}',
          signature: 'sig',
        },
      ],
      stopReason: 'tool_use',
      usage,
    };
    expect(openAISurface.fromCanonical(response)).toEqual({
      id: 'msg_01ABC',
      object: 'chat.completion',
      created: NOW,
      model: 'claude-sonnet-4-5',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: 'Let me check both.',
            reasoning_content: 'Two cities, two calls.',
            tool_calls: [
              {
                id: 'toolu_1',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
              },
              {
                id: 'toolu_2',
                type: 'function',
                function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
              },
            ],
            refusal: null,
            annotations: [],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage: {
        prompt_tokens: 120,
        completion_tokens: 40,
        total_tokens: 160,
        prompt_tokens_details: { cached_tokens: 64, audio_tokens: 0 },
        completion_tokens_details: {
          reasoning_tokens: 25,
          audio_tokens: 0,
          accepted_prediction_tokens: 0,
          rejected_prediction_tokens: 0,
        },
      },
    });
  });

  it('makes an id when the provider gave none and answers null content without text', () => {
    const body = openAISurface.fromCanonical({
      id: '',
      model: 'llama3.2',
      content: [{ type: 'tool_call', id: 'call_x', name: 'f', arguments: '{}' }],
      stopReason: 'tool_use',
      usage: { inputTokens: 5, outputTokens: 3 },
    }) as ChatCompletionBody;
    expect(body.id).toMatch(COMPLETION_ID);
    expect(body).toEqual({
      id: body.id,
      object: 'chat.completion',
      created: NOW,
      model: 'llama3.2',
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'call_x', type: 'function', function: { name: 'f', arguments: '{}' } }],
            refusal: null,
            annotations: [],
          },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
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
    });
  });

  it('maps every stop reason to a finish_reason', () => {
    const finish = (stopReason: StopReason) =>
      (
        openAISurface.fromCanonical({
          id: 'x',
          model: 'm',
          content: [{ type: 'text', text: '' }],
          stopReason,
          usage: { inputTokens: 0, outputTokens: 0 },
        }) as ChatCompletionBody
      ).choices[0]?.finish_reason;
    expect(
      Object.fromEntries(
        (
          [
            'end_turn',
            'stop_sequence',
            'pause_turn',
            'max_tokens',
            'tool_use',
            'content_filter',
            'refusal',
          ] as const
        ).map((reason) => [reason, finish(reason)]),
      ),
    ).toEqual({
      end_turn: 'stop',
      stop_sequence: 'stop',
      pause_turn: 'stop',
      max_tokens: 'length',
      tool_use: 'tool_calls',
      content_filter: 'content_filter',
      refusal: 'content_filter',
    });
  });

  it('has the shapes of the SDK types', () => {
    expectTypeOf<ChatCompletionBody>().toExtend<OpenAI.ChatCompletion>();
    expectTypeOf<ChatCompletionChunkBody>().toExtend<OpenAI.ChatCompletionChunk>();
  });
});

describe('openAISurface.streamEncoder', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2025-01-02T03:04:05Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const encode = (events: StreamEvent[], includeUsage = false): string => {
    const encoder = openAISurface.streamEncoder({ includeUsage });
    return events.map((event) => encoder.event(event)).join('');
  };
  const head = { id: 'msg_1', object: 'chat.completion.chunk', created: NOW, model: 'claude-x' };
  const chunk = (delta: unknown, finishReason: string | null = null): string =>
    `data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] })}\n\n`;
  const start: StreamEvent = { type: 'start', id: 'msg_1', model: 'claude-x' };
  const usage = { inputTokens: 10, outputTokens: 4 };

  it('streams text', () => {
    expect(
      encode([
        start,
        { type: 'block_start', index: 0, block: { type: 'text' } },
        { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
        { type: 'block_delta', index: 0, delta: { type: 'text', text: '' } },
        { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo' } },
        { type: 'block_stop', index: 0 },
        { type: 'finish', stopReason: 'end_turn', usage },
      ]),
    ).toBe(
      'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n' +
        'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}\n\n' +
        'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{"content":"lo"},"logprobs":null,"finish_reason":null}]}\n\n' +
        'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}\n\n' +
        'data: [DONE]\n\n',
    );
  });

  it('streams thinking as reasoning_content and drops signatures and redacted thinking', () => {
    expect(
      encode([
        start,
        { type: 'block_start', index: 0, block: { type: 'thinking' } },
        { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Greeting; ' } },
        { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'be brief.' } },
        { type: 'block_delta', index: 0, delta: { type: 'signature', signature: 'c2lnbmF0dXJl' } },
        { type: 'block_stop', index: 0 },
        { type: 'block_start', index: 1, block: { type: 'redacted_thinking', data: 'ZW5j' } },
        { type: 'block_stop', index: 1 },
        { type: 'block_start', index: 2, block: { type: 'text' } },
        { type: 'block_delta', index: 2, delta: { type: 'text', text: 'Hi!' } },
        { type: 'block_stop', index: 2 },
        { type: 'finish', stopReason: 'max_tokens', usage },
      ]),
    ).toBe(
      chunk({ role: 'assistant', content: '' }) +
        chunk({ reasoning_content: 'Greeting; ' }) +
        chunk({ reasoning_content: 'be brief.' }) +
        chunk({ content: 'Hi!' }) +
        chunk({}, 'length') +
        'data: [DONE]\n\n',
    );
  });

  it('numbers tool calls from 0 and streams their arguments in pieces', () => {
    expect(
      encode([
        start,
        { type: 'block_start', index: 0, block: { type: 'text' } },
        { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Checking both.' } },
        { type: 'block_stop', index: 0 },
        { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'toolu_1', name: 'get_weather' } },
        { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"city":' } },
        { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '"Paris"}' } },
        { type: 'block_stop', index: 1 },
        {
          type: 'block_start',
          index: 2,
          block: { type: 'tool_call', id: 'toolu_2', name: 'get_weather', signature: 'sig' },
        },
        { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '' } },
        { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '{"city":"Oslo"' } },
        { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '}' } },
        { type: 'block_stop', index: 2 },
        { type: 'finish', stopReason: 'tool_use', usage },
      ]),
    ).toBe(
      chunk({ role: 'assistant', content: '' }) +
        chunk({ content: 'Checking both.' }) +
        chunk({
          tool_calls: [
            { index: 0, id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }) +
        chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }) +
        chunk({
          tool_calls: [
            { index: 1, id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '' } },
          ],
        }) +
        chunk({ tool_calls: [{ index: 1, function: { arguments: '{"city":"Oslo"' } }] }) +
        chunk({ tool_calls: [{ index: 1, function: { arguments: '}' } }] }) +
        chunk({}, 'tool_calls') +
        'data: [DONE]\n\n',
    );
  });

  it('with includeUsage, sends usage null on every chunk and a usage chunk before [DONE]', () => {
    expect(
      encode(
        [
          start,
          { type: 'block_start', index: 0, block: { type: 'text' } },
          { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hi' } },
          { type: 'block_stop', index: 0 },
          {
            type: 'finish',
            stopReason: 'end_turn',
            usage: { inputTokens: 30, outputTokens: 25, cachedTokens: 8, reasoningTokens: 20 },
          },
        ],
        true,
      ),
    ).toBe(
      'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}\n\n' +
        'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n' +
        'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}\n\n' +
        'data: {"id":"msg_1","object":"chat.completion.chunk","created":1735787045,"model":"claude-x","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":25,"total_tokens":55,"prompt_tokens_details":{"cached_tokens":8,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":20,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n' +
        'data: [DONE]\n\n',
    );
  });

  it('makes one id for the whole stream when the provider gave none', () => {
    const out = encode([
      { type: 'start', id: '', model: 'llama3.2' },
      { type: 'finish', stopReason: 'end_turn', usage },
    ]);
    const ids = [...out.matchAll(/"id":"([^"]+)"/g)].map((match) => match[1]);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toMatch(COMPLETION_ID);
    expect(ids[1]).toBe(ids[0]);
    const modelHead = { id: ids[0], object: 'chat.completion.chunk', created: NOW, model: 'llama3.2' };
    expect(out).toBe(
      `data: ${JSON.stringify({ ...modelHead, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })}\n\n` +
        `data: ${JSON.stringify({ ...modelHead, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }] })}\n\n` +
        'data: [DONE]\n\n',
    );
  });
});

describe('openAISurface errors', () => {
  it('uses the OpenAI error envelope, as a body and as a stream event', () => {
    const error = new GatewayError(
      400,
      'invalid_request_error',
      "The model's provider does not support 'seed'",
      {
        code: 'unsupported_for_provider',
        param: 'seed',
      },
    );
    const envelope = {
      error: {
        message: "The model's provider does not support 'seed'",
        type: 'invalid_request_error',
        code: 'unsupported_for_provider',
        param: 'seed',
      },
    };
    expect(openAISurface.errorBody(error)).toEqual(envelope);
    expect(openAISurface.errorEvent(error)).toBe(`data: ${JSON.stringify(envelope)}\n\n`);
    expect(openAISurface.format).toBe('openai');
  });
});

describe('naming refused fields as the client sent them', () => {
  it('maps canonical message and part indices back through hoisted system and merged tool messages', () => {
    const body: ChatCompletionRequest = {
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
        {
          role: 'assistant',
          content: '',
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: '18 °C' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'And this?' },
            { type: 'image_url', image_url: { url: 'https://example.com/a.png' } },
          ],
        },
      ],
    };
    const request = openAISurface.toCanonical(body);
    const name = (param: string) => openAISurface.clientParam!(param, request, body);
    expect(name('messages[0].content[0]')).toBe('messages[1].content[0]');
    expect(name('messages[1].content[0].arguments')).toBe('messages[2].tool_calls[0]');
    expect(name('messages[2].content[0]')).toBe('messages[3]');
    expect(name('messages[2].content[2].source')).toBe('messages[4].content[1]');
    expect(name('messages[2]')).toBe('messages[3]');
    expect(name('temperature')).toBe('temperature');

    // A conversation's stored history joined in front moves every canonical index; the client's
    // own parts are still named as sent (they had been named by their canonical path).
    const history = { role: 'user' as const, content: [{ type: 'text' as const, text: 'Earlier.' }] };
    const joined = { ...request, messages: [history, ...request.messages] };
    expect(openAISurface.clientParam!('messages[3].content[2].source', joined, body)).toBe(
      'messages[4].content[1]',
    );
  });
});
