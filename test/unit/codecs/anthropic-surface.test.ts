import { describe, expect, it } from 'vitest';
import type { ChatResponse, StreamEvent } from '../../../src/canonical/model.js';
import { GatewayError } from '../../../src/errors/gateway-error.js';
import { mapStreamFailure } from '../../../src/forward/upstream-errors.js';
import type { Usage } from '../../../src/providers/types.js';
import { anthropicSurface } from '../../../src/surfaces/anthropic/canonical.js';
import { anthropicErrorBody, anthropicErrorEvent } from '../../../src/surfaces/anthropic/envelope.js';
import type { MessagesRequest } from '../../../src/surfaces/anthropic/schema.js';
import { relayAnthropicStream } from '../../../src/surfaces/anthropic/stream-relay.js';
import { parseCountTokensRequest, parseMessagesRequest } from '../../../src/surfaces/anthropic/validate.js';
import type { RelayOptions, StreamFailureReason } from '../../../src/surfaces/types.js';
import { rejection } from '../../support/rejection.js';
import { refusal as unsupported } from './thrown.js';

/** Bodies go through validation first, as the route does. */
const request = (extra: Record<string, unknown>): MessagesRequest =>
  parseMessagesRequest({
    model: 'claude-sonnet-4-5',
    max_tokens: 1024,
    messages: [{ role: 'user', content: 'Hi' }],
    ...extra,
  });
const canonical = (extra: Record<string, unknown>) => anthropicSurface.toCanonical(request(extra));

describe('toCanonical', () => {
  it('maps a plain conversation', () => {
    expect(
      canonical({
        system: 'Be brief.',
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: [{ type: 'text', text: 'Bye', cache_control: { type: 'ephemeral' } }] },
        ],
      }),
    ).toEqual({
      model: 'claude-sonnet-4-5',
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello!' }] },
        { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
      ],
      maxTokens: 1024,
      stream: false,
    });
  });

  it('maps system blocks and drops their cache_control and citations', () => {
    expect(
      canonical({
        system: [
          { type: 'text', text: 'One', cache_control: { type: 'ephemeral', ttl: '1h' } },
          { type: 'text', text: 'Two', citations: null },
        ],
      }).system,
    ).toEqual([
      { type: 'text', text: 'One' },
      { type: 'text', text: 'Two' },
    ]);
    expect(canonical({ system: '' }).system).toEqual([]);
  });

  it('keeps system messages inside the conversation as instructions at their place', () => {
    const body = canonical({
      output_config: { effort: 'low' },
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'system', content: 'Only for the first turn.', clear_at: 'next_user_message' },
        { role: 'assistant', content: 'Hello!' },
        {
          role: 'system',
          content: [{ type: 'text', text: 'Now be terse.', cache_control: { type: 'ephemeral' } }],
        },
        { role: 'user', content: 'Bye' },
        {
          role: 'system',
          content: 'Still shown.',
          clear_at: 'next_user_message',
          output_config: { effort: 'high' },
        },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Hello!' }] },
      { role: 'system', content: [{ type: 'text', text: 'Now be terse.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
      { role: 'system', content: [{ type: 'text', text: 'Still shown.' }] },
    ]);
    // The last system message's effort is the one the coming answer is made with.
    expect(body.thinking).toEqual({ enabled: true, effort: 'high' });
  });

  it('maps every user block kind', () => {
    const { messages } = canonical({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            { type: 'image', source: { type: 'file', file_id: 'file_img' } },
            {
              type: 'document',
              source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' },
              title: 'report.pdf',
              context: 'dropped',
              citations: { enabled: true },
            },
            { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
            { type: 'document', source: { type: 'file', file_id: 'file_doc' }, title: 'notes' },
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'plain words' } },
            { type: 'document', source: { type: 'content', content: 'inline words' } },
            {
              type: 'document',
              source: {
                type: 'content',
                content: [
                  { type: 'text', text: 'chunk' },
                  { type: 'image', source: { type: 'url', url: 'https://example.com/b.png' } },
                ],
              },
            },
          ],
        },
      ],
    });
    expect(messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look' },
          { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' } },
          { type: 'image', source: { kind: 'file', fileId: 'file_img', issuer: 'anthropic' } },
          {
            type: 'document',
            source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0=' },
            filename: 'report.pdf',
          },
          { type: 'document', source: { kind: 'url', url: 'https://example.com/a.pdf' } },
          {
            type: 'document',
            source: { kind: 'file', fileId: 'file_doc', issuer: 'anthropic' },
            filename: 'notes',
          },
          { type: 'text', text: 'plain words' },
          { type: 'text', text: 'inline words' },
          { type: 'text', text: 'chunk' },
          { type: 'image', source: { kind: 'url', url: 'https://example.com/b.png' } },
        ],
      },
    ]);
  });

  it('maps assistant blocks, tool calls and their results', () => {
    const { messages } = canonical({
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Two calls.', signature: 'EqQBsig' },
            { type: 'thinking', thinking: 'From another model.', signature: '' },
            { type: 'redacted_thinking', data: 'EmwKAhgB' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_01', name: 'get_weather', input: { city: 'Paris' } },
            {
              type: 'tool_use',
              id: 'toolu_02',
              name: 'get_weather',
              input: { city: 'Rome', units: { temp: 'C' } },
              cache_control: { type: 'ephemeral' },
              caller: { type: 'direct' },
            },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_01', content: '18°C' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_02',
              is_error: true,
              content: [
                { type: 'text', text: 'Station offline' },
                { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/' } },
                { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'log' } },
              ],
            },
            { type: 'tool_result', tool_use_id: 'toolu_unknown' },
          ],
        },
      ],
    });
    expect(messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          // Shown unwrapped to an Anthropic client, a signature is Claude's (see foreign-signature.ts).
          { type: 'thinking', text: 'Two calls.', signature: 'EqQBsig', signedBy: 'anthropic' },
          { type: 'thinking', text: 'From another model.' },
          { type: 'redacted_thinking', data: 'EmwKAhgB', signedBy: 'anthropic' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_call', id: 'toolu_01', name: 'get_weather', arguments: '{"city":"Paris"}' },
          {
            type: 'tool_call',
            id: 'toolu_02',
            name: 'get_weather',
            arguments: '{"city":"Rome","units":{"temp":"C"}}',
          },
        ],
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            toolCallId: 'toolu_01',
            name: 'get_weather',
            content: [{ type: 'text', text: '18°C' }],
          },
          {
            type: 'tool_result',
            toolCallId: 'toolu_02',
            name: 'get_weather',
            isError: true,
            content: [
              { type: 'text', text: 'Station offline' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/jpeg', data: '/9j/' } },
              { type: 'text', text: 'log' },
            ],
          },
          { type: 'tool_result', toolCallId: 'toolu_unknown', content: [] },
        ],
      },
    ]);
  });

  it('maps every generation option', () => {
    expect(
      canonical({
        tools: [
          {
            name: 'get_weather',
            description: 'Current weather',
            input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
            cache_control: { type: 'ephemeral' },
            strict: true,
            defer_loading: false,
          },
          { type: 'custom', name: 'noop', input_schema: { type: 'object' } },
        ],
        tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true },
        temperature: 0.2,
        top_p: 0.9,
        top_k: 40,
        stop_sequences: ['END'],
        thinking: { type: 'enabled', budget_tokens: 2048, display: 'summarized' },
        output_config: {
          effort: 'high',
          format: { type: 'json_schema', schema: { type: 'object' } },
          task_budget: { type: 'tokens', total: 5000 },
        },
        metadata: { user_id: 'user-42' },
        cache_control: { type: 'ephemeral' },
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        service_tier: 'auto',
        speed: 'fast',
        stream: true,
      }),
    ).toEqual({
      model: 'claude-sonnet-4-5',
      system: [],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      tools: [
        {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          strict: true,
          constrained: true,
        },
        { name: 'noop', parameters: { type: 'object' } },
      ],
      toolChoice: { type: 'tool', name: 'get_weather' },
      parallelToolCalls: false,
      maxTokens: 1024,
      temperature: 0.2,
      topP: 0.9,
      topK: 40,
      stop: ['END'],
      responseFormat: {
        type: 'json_schema',
        name: 'response',
        schema: { type: 'object' },
        constrained: true,
      },
      thinking: { enabled: true, budgetTokens: 2048, effort: 'high' },
      user: 'user-42',
      stream: true,
    });
  });

  it.each([
    [{ type: 'auto' }, { type: 'auto' }],
    [{ type: 'any' }, { type: 'required' }],
    [{ type: 'none' }, { type: 'none' }],
    [
      { type: 'tool', name: 'f' },
      { type: 'tool', name: 'f' },
    ],
  ])('maps tool_choice %j', (tool_choice, toolChoice) => {
    const result = canonical({ tool_choice });
    expect(result.toolChoice).toEqual(toolChoice);
    expect(result.parallelToolCalls).toBeUndefined();
  });

  it('turns off parallel tool calls only when asked', () => {
    expect(canonical({ tool_choice: { type: 'any', disable_parallel_tool_use: true } })).toMatchObject({
      toolChoice: { type: 'required' },
      parallelToolCalls: false,
    });
    expect(
      canonical({ tool_choice: { type: 'auto', disable_parallel_tool_use: false } }).parallelToolCalls,
    ).toBe(undefined);
  });

  it.each([
    [{ thinking: { type: 'enabled', budget_tokens: 4096 } }, { enabled: true, budgetTokens: 4096 }],
    [{ thinking: { type: 'disabled' } }, { enabled: false }],
    [{ thinking: { type: 'adaptive', display: 'omitted' } }, { enabled: true }],
    [{ thinking: { type: 'between_tools' } }, { enabled: true }],
    [
      { thinking: { type: 'adaptive' }, output_config: { effort: 'max' } },
      { enabled: true, effort: 'max' },
    ],
    [{ output_config: { effort: 'low' } }, { enabled: true, effort: 'low' }],
    [
      { thinking: { type: 'disabled' }, output_config: { effort: 'low' } },
      { enabled: false, effort: 'low' },
    ],
    [{ output_config: { effort: null } }, undefined],
  ])('maps thinking from %j', (extra, thinking) => {
    expect(canonical(extra).thinking).toEqual(thinking);
  });

  it('maps the beta output_format like output_config.format', () => {
    expect(
      canonical({ output_format: { type: 'json_schema', schema: { type: 'object', title: 'x' } } }),
    ).toMatchObject({
      responseFormat: { type: 'json_schema', name: 'response', schema: { type: 'object', title: 'x' } },
    });
  });

  it('maps a count_tokens body, which has no generation settings', () => {
    const body = parseCountTokensRequest({
      model: 'claude-haiku-4-5',
      messages: [{ role: 'user', content: 'Count me' }],
      system: 'S',
      tools: [{ name: 't', input_schema: { type: 'object' } }],
    });
    expect(anthropicSurface.toCanonical(body as MessagesRequest)).toEqual({
      model: 'claude-haiku-4-5',
      system: [{ type: 'text', text: 'S' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Count me' }] }],
      tools: [{ name: 't', parameters: { type: 'object' } }],
      stream: false,
    });
  });

  const assistant = (block: Record<string, unknown>) => ({
    messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: [{ type: 'text', text: 'ok' }, block] },
    ],
  });

  it('refuses what only an Anthropic model can do, naming the param', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [
        {
          tools: [
            { name: 'f', input_schema: { type: 'object' } },
            { type: 'web_search_20250305', name: 'web_search' },
          ],
        },
        'Server tools need an Anthropic model',
        'tools[1]',
      ],
      [
        { tools: [{ type: 'mcp_toolset', mcp_server_name: 'docs' }] },
        'Server tools need an Anthropic model',
        'tools[0]',
      ],
      [
        assistant({ type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} }),
        "'server_tool_use' blocks need an Anthropic model",
        'messages[1].content[1]',
      ],
      [
        assistant({ type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] }),
        "'web_search_tool_result' blocks need an Anthropic model",
        'messages[1].content[1]',
      ],
      [
        assistant({ type: 'mcp_tool_use', id: 'm', name: 'n', server_name: 's', input: {} }),
        "'mcp_tool_use' blocks need an Anthropic model",
        'messages[1].content[1]',
      ],
      [
        { messages: [{ role: 'user', content: [{ type: 'container_upload', file_id: 'file_1' }] }] },
        "'container_upload' blocks need an Anthropic model",
        'messages[0].content[0]',
      ],
      [
        {
          messages: [
            { role: 'user', content: [{ type: 'search_result', source: 's', title: 't', content: [] }] },
          ],
        },
        "'search_result' blocks need an Anthropic model",
        'messages[0].content[0]',
      ],
      [
        {
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  tool_use_id: 't',
                  content: [
                    { type: 'text', text: 'a' },
                    { type: 'tool_reference', tool_name: 'Bash' },
                  ],
                },
              ],
            },
          ],
        },
        "'tool_reference' blocks need an Anthropic model",
        'messages[0].content[0].content[1]',
      ],
      [
        {
          messages: [
            { role: 'user', content: 'Hi' },
            { role: 'system', content: [{ type: 'tool_addition', tool: { name: 'Bash' } }] },
          ],
        },
        "'tool_addition' blocks need an Anthropic model",
        'messages[1].content[0]',
      ],
      [
        { mcp_servers: [{ type: 'url', name: 'docs', url: 'https://mcp.example.com' }] },
        'MCP servers need an Anthropic model',
        'mcp_servers',
      ],
      [
        { thread: { type: 'continue', previous_message_id: 'msg_1' } },
        'Server-side threads need an Anthropic model',
        'thread',
      ],
      [{ container: 'container_1' }, 'Containers need an Anthropic model', 'container'],
      [
        { max_tokens: 0 },
        "0 only warms Anthropic's prompt cache; use an Anthropic model or a limit of at least 1",
        'max_tokens',
      ],
    ];
    for (const [extra, message, param] of cases) {
      expect(unsupported(() => canonical(extra))).toEqual({ message, param });
    }
    // An empty MCP server list asks for nothing.
    expect(() => canonical({ mcp_servers: [] })).not.toThrow();
  });

  it('refuses a block in a message of the wrong role as invalid, naming it in the message', () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [
        { messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] }] },
        "messages.0.content.0: 'tool_use' blocks belong in assistant messages",
        'messages[0].content[0]',
      ],
      [
        assistant({ type: 'image', source: { type: 'url', url: 'https://example.com/a.png' } }),
        "messages.1.content.1: 'image' blocks belong in user messages",
        'messages[1].content[1]',
      ],
    ];
    for (const [extra, message, param] of cases) {
      expect(rejection(() => canonical(extra))).toEqual({
        status: 400,
        type: 'invalid_request_error',
        message,
        param,
        code: 'invalid_value',
      });
    }
  });
});

const usage = {
  inputTokens: 100,
  outputTokens: 50,
  cachedTokens: 60,
  cacheCreationTokens: 30,
  reasoningTokens: 20,
};

const response = (extra: Partial<ChatResponse>): ChatResponse => ({
  id: 'chatcmpl-abc123',
  model: 'gpt-5',
  content: [{ type: 'text', text: 'Hello!' }],
  stopReason: 'end_turn',
  usage: { inputTokens: 12, outputTokens: 3 },
  ...extra,
});

describe('fromCanonical', () => {
  it('leaves out what it has nothing to say about: null only for stop_reason and stop_sequence, as the API sends them', () => {
    const nulls: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (value === null) nulls.push(path);
      else if (typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`);
      }
    };
    const content: ChatResponse['content'] = [
      { type: 'thinking', text: 'Hmm.' },
      { type: 'text', text: 'Hello!' },
      { type: 'tool_call', id: 'call_1', name: 'f', arguments: '{}' },
    ];
    walk(anthropicSurface.fromCanonical(response({ content, stopReason: 'tool_use' })), '');
    const events: StreamEvent[] = [
      { type: 'start', id: 'msg_1', model: 'gpt-5' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'call_1', name: 'f' } },
      { type: 'block_stop', index: 1 },
      { type: 'finish', stopReason: 'refusal', usage: { inputTokens: 1, outputTokens: 1 } },
    ];
    const encoder = anthropicSurface.streamEncoder({ includeUsage: true });
    const stream = events.map((event) => encoder.event(event)).join('');
    for (const line of stream.split('\n')) {
      if (line.startsWith('data: ')) walk(JSON.parse(line.slice(6)), line.slice(0, 40));
    }
    expect(nulls.map((path) => path.replace(/^.*\./, ''))).toEqual([
      'stop_sequence',
      'stop_reason',
      'stop_sequence',
      'stop_sequence',
    ]);
  });

  it('builds an exact Message', () => {
    expect(
      anthropicSurface.fromCanonical(
        response({
          content: [
            { type: 'thinking', text: 'Let me think.', signature: 'sig-1' },
            { type: 'thinking', text: 'Unsigned.' },
            { type: 'redacted_thinking', data: 'EmwK' },
            { type: 'text', text: 'Calling tools.' },
            { type: 'tool_call', id: 'toolu_01', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { type: 'tool_call', id: 'call_2', name: 'noop', arguments: '' },
          ],
          stopReason: 'tool_use',
          usage,
        }),
      ),
    ).toEqual({
      id: 'chatcmpl-abc123',
      type: 'message',
      role: 'assistant',
      model: 'gpt-5',
      content: [
        { type: 'thinking', thinking: 'Let me think.', signature: 'sig-1' },
        { type: 'thinking', thinking: 'Unsigned.', signature: '' },
        { type: 'redacted_thinking', data: 'EmwK' },
        { type: 'text', text: 'Calling tools.' },
        {
          type: 'tool_use',
          id: 'toolu_01',
          name: 'get_weather',
          input: { city: 'Paris' },
          caller: { type: 'direct' },
        },
        { type: 'tool_use', id: 'call_2', name: 'noop', input: {}, caller: { type: 'direct' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: {
        input_tokens: 10,
        cache_creation_input_tokens: 30,
        cache_read_input_tokens: 60,
        output_tokens: 50,
        output_tokens_details: { thinking_tokens: 20 },
      },
    });
  });

  it('fills in what the provider did not say', () => {
    const message = anthropicSurface.fromCanonical(
      response({ id: '', stopReason: 'stop_sequence', stopSequence: 'END' }),
    ) as Record<string, unknown>;
    expect(message.id).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(message).toEqual({
      id: message.id,
      type: 'message',
      role: 'assistant',
      model: 'gpt-5',
      content: [{ type: 'text', text: 'Hello!' }],
      stop_reason: 'stop_sequence',
      stop_sequence: 'END',
      usage: {
        input_tokens: 12,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens: 3,
      },
    });
  });

  it.each([
    ['end_turn', 'end_turn'],
    ['max_tokens', 'max_tokens'],
    ['pause_turn', 'pause_turn'],
  ] as const)('keeps stop reason %s', (stopReason, expected) => {
    expect(anthropicSurface.fromCanonical(response({ stopReason }))).toMatchObject({
      stop_reason: expected,
    });
  });

  it('reports content_filter and refusal as a refusal with details', () => {
    for (const stopReason of ['content_filter', 'refusal'] as const) {
      expect(anthropicSurface.fromCanonical(response({ stopReason, content: [] }))).toMatchObject({
        content: [],
        stop_reason: 'refusal',
        stop_details: { type: 'refusal' },
      });
    }
  });

  it('rewrites tool call ids Anthropic would refuse, the same way every time', () => {
    const ids = (id: string) =>
      (
        anthropicSurface.fromCanonical(
          response({ content: [{ type: 'tool_call', id, name: 'f', arguments: '{}' }] }),
        ) as { content: Array<{ id: string }> }
      ).content[0]!.id;
    expect(ids('call.1:x')).toBe('call_1_x_574a15ed');
    expect(ids('call.1:x')).toBe(ids('call.1:x'));
    expect(ids('call:1.x')).not.toBe(ids('call.1:x'));
    expect(ids('call:1.x')).toMatch(/^call_1_x_[0-9a-f]{8}$/);
    expect(ids('')).toMatch(/^call_[0-9a-f]{24}$/);
    expect(ids(`${'x'.repeat(250)}!`)).toMatch(new RegExp(`^${'x'.repeat(200)}_[0-9a-f]{8}$`));
  });

  it('refuses tool arguments that are not a JSON object', () => {
    const answer = (args: string) =>
      response({
        content: [
          { type: 'text', text: 'x' },
          { type: 'tool_call', id: 'c', name: 'f', arguments: args },
        ],
      });
    expect(unsupported(() => anthropicSurface.fromCanonical(answer('{"city":')))).toEqual({
      message: 'Tool call arguments are not valid JSON',
      param: 'content[1].input',
    });
    expect(unsupported(() => anthropicSurface.fromCanonical(answer('[1,2]')))).toEqual({
      message: 'Tool call arguments are not a JSON object',
      param: 'content[1].input',
    });
  });

  it('keeps a tool call cut off by the token limit, with an empty input', () => {
    expect(
      anthropicSurface.fromCanonical(
        response({
          stopReason: 'max_tokens',
          content: [
            { type: 'text', text: 'Saving.' },
            { type: 'tool_call', id: 'c', name: 'write', arguments: '{"path":"a.md","content":"# No' },
          ],
        }),
      ),
    ).toMatchObject({
      content: [
        { type: 'text', text: 'Saving.' },
        { type: 'tool_use', id: 'c', name: 'write', input: {} },
      ],
      stop_reason: 'max_tokens',
    });
  });
});

/** Encodes a canonical event sequence with a fresh encoder. */
const encode = (events: StreamEvent[]): string => {
  const encoder = anthropicSurface.streamEncoder({ includeUsage: false });
  return events.map((event) => encoder.event(event)).join('');
};

const sseEvent = (type: string, data: Record<string, unknown>): string =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

const emptyUsage = {
  input_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
  output_tokens: 0,
};

const startEvent = (id: string, model: string, usageFields: Record<string, unknown>) =>
  sseEvent('message_start', {
    message: {
      id,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...emptyUsage, ...usageFields },
    },
  });

describe('streamEncoder', () => {
  it('encodes a text answer byte for byte', () => {
    const out = encode([
      { type: 'start', id: 'msg_01', model: 'gpt-5', usage: { inputTokens: 12 } },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 12, outputTokens: 2 } },
    ]);
    expect(out).toBe(
      'event: message_start\n' +
        'data: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant",' +
        '"model":"gpt-5","content":[],"stop_reason":null,"stop_sequence":null,' +
        '"usage":{"input_tokens":12,"cache_creation_input_tokens":0,' +
        '"cache_read_input_tokens":0,"output_tokens":0}}}\n\n' +
        'event: content_block_start\n' +
        'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
        'event: content_block_delta\n' +
        'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}\n\n' +
        'event: content_block_delta\n' +
        'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}\n\n' +
        'event: content_block_stop\n' +
        'data: {"type":"content_block_stop","index":0}\n\n' +
        'event: message_delta\n' +
        'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},' +
        '"usage":{"input_tokens":12,"cache_creation_input_tokens":0,' +
        '"cache_read_input_tokens":0,"output_tokens":2}}\n\n' +
        'event: message_stop\n' +
        'data: {"type":"message_stop"}\n\n',
    );
  });

  it('encodes thinking with its signature, and redacted thinking', () => {
    const out = encode([
      { type: 'start', id: 'msg_02', model: 'claude-x' },
      { type: 'block_start', index: 0, block: { type: 'thinking' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Hmm.' } },
      { type: 'block_delta', index: 0, delta: { type: 'signature', signature: 'EqQB' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'redacted_thinking', data: 'EmwK' } },
      { type: 'block_stop', index: 1 },
      { type: 'block_start', index: 2, block: { type: 'text' } },
      { type: 'block_delta', index: 2, delta: { type: 'text', text: '42' } },
      { type: 'block_stop', index: 2 },
      {
        type: 'finish',
        stopReason: 'max_tokens',
        usage: { inputTokens: 5, outputTokens: 9, reasoningTokens: 7 },
      },
    ]);
    expect(out).toBe(
      startEvent('msg_02', 'claude-x', {}) +
        sseEvent('content_block_start', {
          index: 0,
          content_block: { type: 'thinking', thinking: '', signature: '' },
        }) +
        sseEvent('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'Hmm.' } }) +
        sseEvent('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'EqQB' } }) +
        sseEvent('content_block_stop', { index: 0 }) +
        sseEvent('content_block_start', {
          index: 1,
          content_block: { type: 'redacted_thinking', data: 'EmwK' },
        }) +
        sseEvent('content_block_stop', { index: 1 }) +
        sseEvent('content_block_start', {
          index: 2,
          content_block: { type: 'text', text: '' },
        }) +
        sseEvent('content_block_delta', { index: 2, delta: { type: 'text_delta', text: '42' } }) +
        sseEvent('content_block_stop', { index: 2 }) +
        sseEvent('message_delta', {
          delta: { stop_reason: 'max_tokens', stop_sequence: null },
          usage: {
            input_tokens: 5,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 9,
            output_tokens_details: { thinking_tokens: 7 },
          },
        }) +
        sseEvent('message_stop', {}),
    );
  });

  it('encodes two tool calls, rewriting an id Anthropic would refuse', () => {
    const out = encode([
      { type: 'start', id: '', model: 'gemini-2.5-pro', usage: { inputTokens: 30 } },
      { type: 'block_start', index: 0, block: { type: 'tool_call', id: 'call_a', name: 'get_weather' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '{"city":' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '"Paris"}' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'block_start',
        index: 1,
        block: { type: 'tool_call', id: 'call.1:x', name: 'get_time', signature: 'gemini-sig' },
      },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 1 },
      { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 30, outputTokens: 20 } },
    ]);
    const id = /"id":"(msg_[0-9a-f]{24})"/.exec(out)?.[1];
    expect(id).toBeDefined();
    expect(out).toBe(
      startEvent(id!, 'gemini-2.5-pro', { input_tokens: 30 }) +
        sseEvent('content_block_start', {
          index: 0,
          content_block: {
            type: 'tool_use',
            id: 'call_a',
            name: 'get_weather',
            input: {},
            caller: { type: 'direct' },
          },
        }) +
        sseEvent('content_block_delta', {
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '{"city":' },
        }) +
        sseEvent('content_block_delta', {
          index: 0,
          delta: { type: 'input_json_delta', partial_json: '"Paris"}' },
        }) +
        sseEvent('content_block_stop', { index: 0 }) +
        sseEvent('content_block_start', {
          index: 1,
          content_block: {
            type: 'tool_use',
            id: 'call_1_x_574a15ed',
            name: 'get_time',
            input: {},
            caller: { type: 'direct' },
          },
        }) +
        sseEvent('content_block_delta', {
          index: 1,
          delta: { type: 'input_json_delta', partial_json: '{}' },
        }) +
        sseEvent('content_block_stop', { index: 1 }) +
        sseEvent('message_delta', {
          delta: { stop_reason: 'tool_use', stop_sequence: null },
          usage: {
            input_tokens: 30,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            output_tokens: 20,
          },
        }) +
        sseEvent('message_stop', {}),
    );
  });

  // message_start shows no output: message_delta carries the whole answer's, and LangChain adds the two.
  it('splits cached input out of input_tokens, at the start and the end', () => {
    const out = encode([
      {
        type: 'start',
        id: 'msg_03',
        model: 'gpt-5',
        usage: { inputTokens: 100, cachedTokens: 60, cacheCreationTokens: 30, outputTokens: 1 },
      },
      { type: 'finish', stopReason: 'content_filter', stopSequence: undefined, usage },
    ]);
    expect(out).toBe(
      startEvent('msg_03', 'gpt-5', {
        input_tokens: 10,
        cache_creation_input_tokens: 30,
        cache_read_input_tokens: 60,
        output_tokens: 0,
      }) +
        sseEvent('message_delta', {
          delta: {
            stop_reason: 'refusal',
            stop_sequence: null,
            stop_details: { type: 'refusal' },
          },
          usage: {
            input_tokens: 10,
            cache_creation_input_tokens: 30,
            cache_read_input_tokens: 60,
            output_tokens: 50,
            output_tokens_details: { thinking_tokens: 20 },
          },
        }) +
        sseEvent('message_stop', {}),
    );
  });

  it('carries the stop sequence that ended the answer', () => {
    expect(
      encode([
        {
          type: 'finish',
          stopReason: 'stop_sequence',
          stopSequence: 'END',
          usage: { inputTokens: 1, outputTokens: 1 },
        },
      ]),
    ).toContain('"delta":{"stop_reason":"stop_sequence","stop_sequence":"END"}');
  });
});

describe('error envelope', () => {
  const error = (status: number) =>
    new GatewayError(status, 'upstream_error', 'Something failed', { code: 'x', param: 'p' });

  it.each([
    [400, 'invalid_request_error'],
    [401, 'authentication_error'],
    [402, 'billing_error'],
    [403, 'permission_error'],
    [404, 'not_found_error'],
    [413, 'request_too_large'],
    [415, 'invalid_request_error'],
    [422, 'invalid_request_error'],
    [429, 'rate_limit_error'],
    [500, 'api_error'],
    [502, 'api_error'],
    [503, 'overloaded_error'],
    [504, 'timeout_error'],
    [529, 'overloaded_error'],
    [507, 'api_error'],
  ])('maps status %i to %s', (status, type) => {
    expect(anthropicErrorBody(error(status))).toEqual({
      type: 'error',
      error: { type, message: 'Something failed' },
    });
  });

  it('is the surface error body and event', () => {
    const e = new GatewayError(429, 'rate_limit_error', 'Rate limit exceeded');
    expect(anthropicSurface.errorBody(e)).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'Rate limit exceeded' },
    });
    expect(anthropicSurface.errorEvent(e)).toBe(
      'event: error\ndata: {"type":"error","error":{"type":"rate_limit_error","message":"Rate limit exceeded"}}\n\n',
    );
    expect(anthropicErrorEvent(e)).toBe(anthropicSurface.errorEvent(e));
  });
});

// ---- Native relay ----

const INTERRUPTED =
  'event: error\ndata: {"type":"error","error":{"type":"api_error",' +
  '"message":"The provider\'s stream ended before it finished; the answer is incomplete"}}\n\n';
const PROVIDER_FAILED =
  'event: error\ndata: {"type":"error","error":{"type":"api_error",' +
  '"message":"The provider reported an error mid-stream"}}\n\n';

const upstreamStart =
  'event: message_start\n' +
  'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",' +
  '"role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,' +
  '"usage":{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":5,' +
  '"output_tokens":1,"service_tier":"standard"}}}\n\n';
const upstreamBody =
  'event: ping\ndata: {"type": "ping"}\n\n' +
  'event: content_block_start\n' +
  'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n' +
  'event: content_block_delta\n' +
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello!"}}\n\n' +
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n';
const upstreamDelta =
  'event: message_delta\n' +
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},' +
  '"usage":{"output_tokens":15,"input_tokens":null}}\n\n';
const upstreamStop = 'event: message_stop\ndata: {"type":"message_stop"}\n\n';
const upstream = upstreamStart + upstreamBody + upstreamDelta + upstreamStop;

/** The stream in chunks of `size` bytes, cutting events (and multi-byte characters) anywhere. */
async function* chunked(text: string, size: number, fail?: Error): AsyncGenerator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
  if (fail) throw fail;
}

interface RelayRun {
  out: string[];
  usages: Usage[];
  payloads: unknown[];
  failures: StreamFailureReason[];
}

/** readUsage here reads a Message body's usage as the Anthropic adapter would. */
async function relay(body: AsyncIterable<Uint8Array>, clientGone = () => false): Promise<RelayRun> {
  const run: RelayRun = { out: [], usages: [], payloads: [], failures: [] };
  const options: RelayOptions = {
    readUsage(payload) {
      run.payloads.push(structuredClone(payload));
      const u = (payload as { usage: Record<string, number> }).usage;
      const cached = u.cache_read_input_tokens ?? 0;
      return {
        inputTokens: u.input_tokens! + cached + (u.cache_creation_input_tokens ?? 0),
        outputTokens: u.output_tokens!,
        cachedTokens: cached,
      };
    },
    hideUsageChunk: true,
    onUsage: (u) => run.usages.push(u),
    onFailure: (reason) => run.failures.push(reason),
    failureError: mapStreamFailure,
    clientGone,
  };
  for await (const piece of relayAnthropicStream(body, options)) run.out.push(piece);
  return run;
}

describe('relayAnthropicStream', () => {
  it('passes the stream through unchanged, whatever the chunking', async () => {
    for (const size of [1, 7, 64, 4096]) {
      const run = await relay(chunked(upstream, size));
      expect(run.out.join('')).toBe(upstream);
      expect(run.failures).toEqual([]);
    }
  });

  it('sends each chunk’s complete events as soon as they arrive', async () => {
    async function* pieces() {
      yield new TextEncoder().encode(upstreamStart + upstreamBody.slice(0, 10));
      yield new TextEncoder().encode(upstreamBody.slice(10) + upstreamDelta + upstreamStop);
    }
    const run = await relay(pieces());
    expect(run.out).toEqual([upstreamStart, upstreamBody + upstreamDelta + upstreamStop]);
  });

  it('merges message_delta usage over message_start usage and reports each step', async () => {
    const run = await relay(chunked(upstream, 4096));
    expect(run.payloads).toEqual([
      {
        type: 'message',
        usage: {
          input_tokens: 25,
          cache_creation_input_tokens: 10,
          cache_read_input_tokens: 5,
          output_tokens: 1,
          service_tier: 'standard',
        },
      },
      {
        type: 'message',
        usage: {
          input_tokens: 25,
          cache_creation_input_tokens: 10,
          cache_read_input_tokens: 5,
          output_tokens: 15,
          service_tier: 'standard',
        },
      },
    ]);
    expect(run.usages).toEqual([
      { inputTokens: 40, outputTokens: 1, cachedTokens: 5 },
      { inputTokens: 40, outputTokens: 15, cachedTokens: 5 },
    ]);
  });

  it('lets message_delta totals replace those of message_start', async () => {
    const delta =
      'event: message_delta\n' +
      'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},' +
      '"usage":{"input_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":12,"output_tokens":8}}\n\n';
    const run = await relay(chunked(upstreamStart + delta + upstreamStop, 4096));
    expect(run.usages.at(-1)).toEqual({ inputTokens: 42, outputTokens: 8, cachedTokens: 12 });
  });

  it('replaces a provider error event with our own, of its type, and stops', async () => {
    const providerError =
      'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded: cluster eu-7 key sk-ant-xyz"}}\n\n';
    const run = await relay(
      chunked(upstreamStart + upstreamBody + providerError + upstreamDelta + upstreamStop, 4096),
    );
    expect(run.out.join('')).toBe(
      upstreamStart + upstreamBody + PROVIDER_FAILED.replace('api_error', 'overloaded_error'),
    );
    expect(run.out.join('')).not.toContain('Overloaded');
    expect(run.failures).toEqual(['provider_error']);
  });

  it('recognises an error event by its data when the event line is missing', async () => {
    const providerError = 'data: {"type":"error","error":{"type":"api_error","message":"Internal"}}\n\n';
    const run = await relay(chunked(upstreamStart + providerError, 4096));
    expect(run.out.join('')).toBe(upstreamStart + PROVIDER_FAILED);
    expect(run.failures).toEqual(['provider_error']);
  });

  it('ends a broken stream with our error event', async () => {
    const run = await relay(chunked(upstreamStart + upstreamBody, 4096, new Error('socket hang up')));
    expect(run.out.join('')).toBe(upstreamStart + upstreamBody + INTERRUPTED);
    expect(run.failures).toEqual(['cut']);
    expect(run.usages).toEqual([{ inputTokens: 40, outputTokens: 1, cachedTokens: 5 }]);
  });

  it('ends a stream without message_stop with our error event', async () => {
    const run = await relay(chunked(upstreamStart + upstreamBody + upstreamDelta, 4096));
    expect(run.out.join('')).toBe(upstreamStart + upstreamBody + upstreamDelta + INTERRUPTED);
    expect(run.failures).toEqual(['incomplete']);
  });

  it('calls a stream that stops mid-event cut', async () => {
    const run = await relay(chunked(upstreamStart + upstreamStop.slice(0, 20), 4096));
    expect(run.out.join('')).toBe(upstreamStart + INTERRUPTED);
    expect(run.failures).toEqual(['cut']);
  });

  it('writes nothing more once the client has gone', async () => {
    const run = await relay(chunked(upstreamStart, 4096, new Error('aborted')), () => true);
    expect(run.out.join('')).toBe(upstreamStart);
    expect(run.failures).toEqual([]);
  });

  it('passes an event with unreadable data through, without usage', async () => {
    const broken = 'event: message_delta\ndata: {"type":"message_delta","usage":{\n\n';
    const run = await relay(chunked(upstreamStart + broken + upstreamStop, 4096));
    expect(run.out.join('')).toBe(upstreamStart + broken + upstreamStop);
    expect(run.usages).toHaveLength(1);
    expect(run.failures).toEqual([]);
  });
});
