import { describe, expect, it } from 'vitest';
import type { ChatRequest, StreamEvent } from '../../../src/canonical/model.js';
import { configSchema } from '../../../src/config/schema.js';
import { SecretString } from '../../../src/keys/index.js';
import {
  decodeOllamaResponse,
  encodeOllamaRequest,
  readOllamaUsage,
} from '../../../src/providers/ollama/codec.js';
import { createOllamaAdapter } from '../../../src/providers/ollama/index.js';
import { OllamaStreamDecoder } from '../../../src/providers/ollama/stream.js';
import { streamFailure as failure, refusal as rejection } from './thrown.js';

const CALL_ID = /^call_[0-9a-f]{24}$/;

function request(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'llama3.2',
    system: [],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    stream: false,
    ...overrides,
  };
}

describe('encodeOllamaRequest', () => {
  it('sends system parts as one leading system message and always says whether to stream', () => {
    const encoded = encodeOllamaRequest(
      request({
        system: [
          { type: 'text', text: 'Be brief.' },
          { type: 'text', text: 'Answer in French.' },
        ],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Salut' }] },
          { role: 'user', content: [{ type: 'text', text: 'Ça va ?' }] },
        ],
        stream: true,
      }),
    );
    expect(encoded).toEqual({
      model: 'llama3.2',
      messages: [
        { role: 'system', content: 'Be brief.\n\nAnswer in French.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Salut' },
        { role: 'user', content: 'Ça va ?' },
      ],
      stream: true,
    });
    expect(encodeOllamaRequest(request())).toEqual({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });
  });

  it('puts sampling settings in options, in the order the body lists them', () => {
    const encoded = encodeOllamaRequest(
      request({ maxTokens: 256, temperature: 0.2, topP: 0.9, topK: 40, stop: ['END', '\n\n'] }),
    );
    expect(JSON.stringify(encoded)).toBe(
      '{"model":"llama3.2","messages":[{"role":"user","content":"Hi"}],' +
        '"options":{"num_predict":256,"temperature":0.2,"top_p":0.9,"top_k":40,"stop":["END","\\n\\n"]},' +
        '"stream":false}',
    );
    expect(encodeOllamaRequest(request({ stop: [] }))).toEqual({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });
  });

  it('puts the seed and penalties in options after top_k, zero ones included', () => {
    expect(
      JSON.stringify(
        encodeOllamaRequest(
          request({ topK: 40, seed: 42, frequencyPenalty: 0.5, presencePenalty: -0.5, stop: ['END'] }),
        ),
      ),
    ).toBe(
      '{"model":"llama3.2","messages":[{"role":"user","content":"Hi"}],' +
        '"options":{"top_k":40,"seed":42,"frequency_penalty":0.5,"presence_penalty":-0.5,"stop":["END"]},' +
        '"stream":false}',
    );
    expect(
      JSON.stringify(encodeOllamaRequest(request({ seed: 0, frequencyPenalty: 0, presencePenalty: 0 }))),
    ).toBe(
      '{"model":"llama3.2","messages":[{"role":"user","content":"Hi"}],' +
        '"options":{"seed":0,"frequency_penalty":0,"presence_penalty":0},"stream":false}',
    );
  });

  it('maps response formats to `format`', () => {
    const schema = { type: 'object', properties: { age: { type: 'integer' } }, required: ['age'] };
    expect(encodeOllamaRequest(request({ responseFormat: { type: 'json_object' } })).format).toBe('json');
    expect(
      encodeOllamaRequest(
        request({ responseFormat: { type: 'json_schema', name: 'person', schema, strict: true } }),
      ).format,
    ).toEqual(schema);
    expect(
      encodeOllamaRequest(request({ responseFormat: { type: 'json_schema', name: 'any' } })).format,
    ).toBe('json');
    expect(encodeOllamaRequest(request({ responseFormat: { type: 'text' } }))).toEqual({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });
  });

  it('maps thinking to `think`: on, off or the nearest level', () => {
    const think = (thinking: ChatRequest['thinking']) => encodeOllamaRequest(request({ thinking })).think;
    expect(think(undefined)).toBeUndefined();
    expect('think' in encodeOllamaRequest(request())).toBe(false);
    expect(think({ enabled: true })).toBe(true);
    expect(think({ enabled: true, budgetTokens: 2048 })).toBe(true);
    expect(think({ enabled: false })).toBe(false);
    expect(think({ enabled: false, effort: 'high' })).toBe(false);
    expect(think({ enabled: true, effort: 'none' })).toBe(false);
    expect(think({ enabled: true, effort: 'minimal' })).toBe('low');
    expect(think({ enabled: true, effort: 'low' })).toBe('low');
    expect(think({ enabled: true, effort: 'medium' })).toBe('medium');
    expect(think({ enabled: true, effort: 'high' })).toBe('high');
    expect(think({ enabled: true, effort: 'xhigh' })).toBe('high');
    expect(think({ enabled: true, effort: 'max' })).toBe('high');
  });

  it('sends base64 images beside the text of their message', () => {
    const encoded = encodeOllamaRequest(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is this?' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
              { type: 'text', text: 'And this?' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/jpeg', data: '/9j/4AAQ' } },
            ],
          },
        ],
      }),
    );
    expect(encoded.messages).toEqual([
      { role: 'user', content: 'What is this?\n\nAnd this?', images: ['iVBORw0KGgo=', '/9j/4AAQ'] },
    ]);
  });

  it('refuses image URLs, file references and documents, naming the part', () => {
    const withPart = (part: ChatRequest['messages'][number]['content'][number]) =>
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] },
          {
            role: 'user',
            content: [{ type: 'text', text: 'Look' }, part] as ChatRequest['messages'][number]['content'],
          },
        ] as ChatRequest['messages'],
      });
    expect(
      rejection(() =>
        encodeOllamaRequest(
          withPart({ type: 'image', source: { kind: 'url', url: 'https://example.com/cat.png' } }),
        ),
      ),
    ).toEqual({
      message: 'Ollama needs image data inline (base64); an image URL cannot be sent to it',
      param: 'messages[2].content[1].source',
    });
    expect(
      rejection(() =>
        encodeOllamaRequest(
          withPart({ type: 'image', source: { kind: 'file', fileId: 'file-abc', issuer: 'openai' } }),
        ),
      ),
    ).toEqual({
      message: 'Ollama needs image data inline (base64); a file reference cannot be sent to it',
      param: 'messages[2].content[1].source',
    });
    expect(
      rejection(() =>
        encodeOllamaRequest(
          withPart({
            type: 'document',
            source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0=' },
          }),
        ),
      ),
    ).toEqual({ message: 'Ollama takes documents only as text', param: 'messages[2].content[1]' });
  });

  it('refuses an image URL inside a tool result, naming its path', () => {
    const encode = () =>
      encodeOllamaRequest(
        request({
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'tool_result',
                  toolCallId: 'call_1',
                  name: 'screenshot',
                  content: [
                    { type: 'text', text: 'taken' },
                    { type: 'image', source: { kind: 'url', url: 'https://example.com/shot.png' } },
                  ],
                },
              ],
            },
          ],
        }),
      );
    expect(rejection(encode)).toEqual({
      message: 'Ollama needs image data inline (base64); an image URL cannot be sent to it',
      param: 'messages[0].content[0].content[1].source',
    });
  });

  it('sends assistant thinking and tool calls, and tool results as tool messages in order', () => {
    const encoded = encodeOllamaRequest(
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', text: 'Two cities.', signature: 'sig-from-elsewhere' },
              { type: 'redacted_thinking', data: 'opaque' },
              { type: 'text', text: 'Checking.' },
              { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
              { type: 'tool_call', id: 'toolu_2', name: 'get_time', arguments: '' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', toolCallId: 'toolu_1', content: [{ type: 'text', text: '22°C' }] },
              {
                type: 'tool_result',
                toolCallId: 'toolu_2',
                name: 'get_time',
                isError: true,
                content: [
                  { type: 'text', text: 'clock unavailable' },
                  { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'AAAA' } },
                ],
              },
              { type: 'tool_result', toolCallId: 'unknown', content: [] },
              { type: 'text', text: 'Thanks' },
            ],
          },
        ],
      }),
    );
    expect(encoded.messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Checking.',
        thinking: 'Two cities.',
        tool_calls: [
          { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
          { function: { name: 'get_time', arguments: {} } },
        ],
      },
      { role: 'tool', content: '22°C', tool_name: 'get_weather' },
      { role: 'tool', content: 'Error: clock unavailable', images: ['AAAA'], tool_name: 'get_time' },
      { role: 'tool', content: '' },
      { role: 'user', content: 'Thanks' },
    ]);
  });

  it('marks an error result in its text, as OpenAI\'s format does: "Error: " before the first text', () => {
    const results = (...content: Array<{ type: 'text'; text: string }>) =>
      encodeOllamaRequest(
        request({
          messages: [
            {
              role: 'user',
              content: [{ type: 'tool_result', toolCallId: 'c1', name: 'run', isError: true, content }],
            },
          ],
        }),
      ).messages;
    expect(
      JSON.stringify(results({ type: 'text', text: 'exit 1' }, { type: 'text', text: 'no such file' })),
    ).toBe('[{"role":"tool","content":"Error: exit 1\\n\\nno such file","tool_name":"run"}]');
    expect(JSON.stringify(results())).toBe('[{"role":"tool","content":"Error: ","tool_name":"run"}]');
  });

  it('refuses tool call arguments that are not a JSON object', () => {
    const withArguments = (args: string) =>
      request({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Go' }] },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Calling' },
              { type: 'tool_call', id: 'c1', name: 'run', arguments: args },
            ],
          },
        ],
      });
    const expected = {
      message: 'Ollama needs tool call arguments as a JSON object',
      param: 'messages[1].content[1].arguments',
    };
    expect(rejection(() => encodeOllamaRequest(withArguments('{"cmd": "ls"')))).toEqual(expected);
    expect(rejection(() => encodeOllamaRequest(withArguments('[1, 2]')))).toEqual(expected);
    expect(rejection(() => encodeOllamaRequest(withArguments('"text"')))).toEqual(expected);
  });

  it('sends tools unless the choice is none, only the named one for a named choice (required is advisory)', () => {
    const tools: ChatRequest['tools'] = [
      {
        name: 'get_weather',
        description: 'Current weather',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      { name: 'ping', parameters: { type: 'object', properties: {} } },
    ];
    const wire = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Current weather',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      },
      { type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } },
    ];
    expect(encodeOllamaRequest(request({ tools }))).toEqual({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Hi' }],
      tools: wire,
      stream: false,
    });
    expect(encodeOllamaRequest(request({ tools, toolChoice: { type: 'required' } })).tools).toEqual(wire);
    expect(encodeOllamaRequest(request({ tools, toolChoice: { type: 'tool', name: 'ping' } })).tools).toEqual(
      [wire[1]],
    );
    expect(encodeOllamaRequest(request({ tools, toolChoice: { type: 'tool', name: 'nope' } })).tools).toEqual(
      wire,
    );
    expect(encodeOllamaRequest(request({ tools, toolChoice: { type: 'none' } }))).toEqual({
      model: 'llama3.2',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: false,
    });
    expect('tools' in encodeOllamaRequest(request({ tools: [] }))).toBe(false);
  });

  it('refuses a strict tool it would send: Ollama cannot hold a call to its schema', () => {
    const tools: ChatRequest['tools'] = [
      { name: 'ping', parameters: { type: 'object', properties: {} } },
      { name: 'get_weather', parameters: { type: 'object', properties: {} }, strict: true },
    ];
    expect(rejection(() => encodeOllamaRequest(request({ tools })))).toEqual({
      message:
        "The strict tool 'get_weather' needs its calls held to its schema, which Ollama cannot do. " +
        'Send it without strict, or to a provider that can',
      param: 'tools[1].function.strict',
    });
    expect(encodeOllamaRequest(request({ tools, toolChoice: { type: 'tool', name: 'ping' } })).tools).toEqual(
      [{ type: 'function', function: { name: 'ping', parameters: { type: 'object', properties: {} } } }],
    );
  });
});

describe('decodeOllamaResponse', () => {
  const base = {
    model: 'llama3.2',
    created_at: '2024-12-06T00:46:58.265747Z',
    done: true,
    total_duration: 2254970291,
    prompt_eval_count: 34,
    eval_count: 12,
  };

  it('reads text, the stop reason and usage; the answer has no id', () => {
    expect(
      decodeOllamaResponse({
        ...base,
        message: { role: 'assistant', content: 'Hello! How are you today?' },
        done_reason: 'stop',
      }),
    ).toEqual({
      id: '',
      model: 'llama3.2',
      content: [{ type: 'text', text: 'Hello! How are you today?' }],
      stopReason: 'end_turn',
      usage: { inputTokens: 34, outputTokens: 12 },
    });
  });

  it('puts thinking first', () => {
    expect(
      decodeOllamaResponse({
        ...base,
        message: { role: 'assistant', content: '4', thinking: '2 + 2 is 4.' },
        done_reason: 'stop',
      }).content,
    ).toEqual([
      { type: 'thinking', text: '2 + 2 is 4.' },
      { type: 'text', text: '4' },
    ]);
  });

  it('gives tool calls fresh ids and their arguments as JSON text', () => {
    const answer = decodeOllamaResponse({
      ...base,
      message: {
        role: 'assistant',
        content: '',
        tool_calls: [
          { function: { name: 'get_weather', arguments: { format: 'celsius', location: 'Paris, FR' } } },
          { function: { name: 'ping', arguments: {} } },
        ],
      },
      done_reason: 'stop',
    });
    expect(answer).toEqual({
      id: '',
      model: 'llama3.2',
      content: [
        {
          type: 'tool_call',
          id: expect.stringMatching(CALL_ID),
          name: 'get_weather',
          arguments: '{"format":"celsius","location":"Paris, FR"}',
        },
        { type: 'tool_call', id: expect.stringMatching(CALL_ID), name: 'ping', arguments: '{}' },
      ],
      stopReason: 'tool_use',
      usage: { inputTokens: 34, outputTokens: 12 },
    });
    const [first, second] = answer.content as Array<{ id: string }>;
    expect(first!.id).not.toBe(second!.id);
  });

  it('keeps the ids Ollama 0.12.10+ gives its tool calls', () => {
    const answer = decodeOllamaResponse({
      ...base,
      message: {
        role: 'assistant',
        content: '',
        tool_calls: [
          { id: 'call_lyywui55', function: { index: 0, name: 'get_weather', arguments: { city: 'Paris' } } },
          { id: '', function: { index: 1, name: 'get_weather', arguments: { city: 'London' } } },
        ],
      },
      done_reason: 'stop',
    });
    expect(answer.content).toEqual([
      { type: 'tool_call', id: 'call_lyywui55', name: 'get_weather', arguments: '{"city":"Paris"}' },
      {
        type: 'tool_call',
        id: expect.stringMatching(CALL_ID),
        name: 'get_weather',
        arguments: '{"city":"London"}',
      },
    ]);
  });

  it('maps done reasons', () => {
    const reason = (done_reason?: string) =>
      decodeOllamaResponse({ ...base, message: { role: 'assistant', content: 'x' }, done_reason }).stopReason;
    expect(reason('stop')).toBe('end_turn');
    expect(reason('length')).toBe('max_tokens');
    expect(reason(undefined)).toBe('end_turn');
  });

  it('reads the prompt tokens served from the KV cache as cached input', () => {
    expect(
      decodeOllamaResponse({
        ...base,
        prompt_eval_count: 4120,
        prompt_eval_cached_count: 4096,
        message: { role: 'assistant', content: 'x' },
        done_reason: 'stop',
      }).usage,
    ).toEqual({ inputTokens: 4120, outputTokens: 12, cachedTokens: 4096 });
    expect(
      decodeOllamaResponse({
        ...base,
        prompt_eval_cached_count: 0,
        message: { role: 'assistant', content: 'x' },
        done_reason: 'stop',
      }).usage,
    ).toEqual({ inputTokens: 34, outputTokens: 12 });
  });

  it('marks an answer without token counts unreported and refuses what is not an answer', () => {
    expect(
      decodeOllamaResponse({ model: 'm', message: { role: 'assistant', content: 'x' }, done: true }).usage,
    ).toEqual({ inputTokens: 0, outputTokens: 0, unreported: true });
    expect(() => decodeOllamaResponse({ error: 'model not found' })).toThrow('not an Ollama chat answer');
    expect(() => decodeOllamaResponse(null)).toThrow('not an Ollama chat answer');
  });
});

describe('readOllamaUsage', () => {
  it('reads the final chat object and OpenAI-format embeddings usage', () => {
    expect(readOllamaUsage({ done: true, prompt_eval_count: 26, eval_count: 282 })).toEqual({
      inputTokens: 26,
      outputTokens: 282,
    });
    expect(readOllamaUsage({ done: true, eval_count: 5 })).toEqual({ inputTokens: 0, outputTokens: 5 });
    expect(
      readOllamaUsage({ done: true, prompt_eval_count: 26, prompt_eval_cached_count: 20, eval_count: 5 }),
    ).toEqual({ inputTokens: 26, outputTokens: 5, cachedTokens: 20 });
    expect(
      readOllamaUsage({ object: 'list', data: [], usage: { prompt_tokens: 8, total_tokens: 8 } }),
    ).toEqual({ inputTokens: 8, outputTokens: 0 });
    expect(readOllamaUsage({ done: false, message: { content: 'x' } })).toBeUndefined();
  });
});

describe('OllamaStreamDecoder', () => {
  const enc = (text: string) => new TextEncoder().encode(text);
  const line = (payload: Record<string, unknown>) =>
    `${JSON.stringify({ model: 'qwen3', created_at: '2025-01-01T00:00:00Z', ...payload })}\n`;
  const chunk = (message: Record<string, unknown>) =>
    line({ message: { role: 'assistant', ...message }, done: false });
  const doneLine = (extra: Record<string, unknown> = {}) =>
    line({
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      total_duration: 1234,
      prompt_eval_count: 50,
      eval_count: 200,
      ...extra,
    });

  function decodeAll(decoder: OllamaStreamDecoder, chunks: Array<string | Uint8Array>): StreamEvent[] {
    const events: StreamEvent[] = [];
    for (const piece of chunks) events.push(...decoder.push(typeof piece === 'string' ? enc(piece) : piece));
    events.push(...decoder.end());
    return events;
  }

  it('streams text over many lines as one text block', () => {
    const events = decodeAll(new OllamaStreamDecoder(), [
      chunk({ content: 'The' }),
      chunk({ content: ' sky' }),
      chunk({ content: '' }),
      chunk({ content: ' is blue.' }),
      doneLine(),
    ]);
    expect(events).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'The' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: ' sky' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: ' is blue.' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 50, outputTokens: 200 } },
    ]);
  });

  it('streams thinking, then content, as two blocks', () => {
    const events = decodeAll(new OllamaStreamDecoder(), [
      chunk({ content: '', thinking: 'Let me' }),
      chunk({ content: '', thinking: ' think.' }),
      chunk({ content: 'Four.' }),
      doneLine({ done_reason: 'length' }),
    ]);
    expect(events).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'thinking' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Let me' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: ' think.' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'text' } },
      { type: 'block_delta', index: 1, delta: { type: 'text', text: 'Four.' } },
      { type: 'block_stop', index: 1 },
      { type: 'finish', stopReason: 'max_tokens', usage: { inputTokens: 50, outputTokens: 200 } },
    ]);
  });

  it('turns whole tool calls into one block each and ends with tool_use', () => {
    const events = decodeAll(new OllamaStreamDecoder(), [
      chunk({ content: 'Checking.' }),
      chunk({
        content: '',
        tool_calls: [
          { function: { name: 'get_weather', arguments: { city: 'Paris' } } },
          { function: { name: 'get_time', arguments: {} } },
        ],
      }),
      doneLine(),
    ]);
    expect(events).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Checking.' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'block_start',
        index: 1,
        block: { type: 'tool_call', id: expect.stringMatching(CALL_ID), name: 'get_weather' },
      },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"city":"Paris"}' } },
      { type: 'block_stop', index: 1 },
      {
        type: 'block_start',
        index: 2,
        block: { type: 'tool_call', id: expect.stringMatching(CALL_ID), name: 'get_time' },
      },
      { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 2 },
      { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 50, outputTokens: 200 } },
    ]);
  });

  it('keeps the id Ollama gives a streamed tool call', () => {
    const events = decodeAll(new OllamaStreamDecoder(), [
      chunk({
        content: '',
        tool_calls: [{ id: 'call_0scw2dos', function: { index: 0, name: 'ping', arguments: {} } }],
      }),
      doneLine(),
    ]);
    expect(events[1]).toEqual({
      type: 'block_start',
      index: 0,
      block: { type: 'tool_call', id: 'call_0scw2dos', name: 'ping' },
    });
  });

  it('reads the cached prompt tokens from the done line', () => {
    const events = decodeAll(new OllamaStreamDecoder(), [
      chunk({ content: 'Hi' }),
      doneLine({ prompt_eval_cached_count: 48 }),
    ]);
    expect(events.at(-1)).toEqual({
      type: 'finish',
      stopReason: 'end_turn',
      usage: { inputTokens: 50, outputTokens: 200, cachedTokens: 48 },
    });
  });

  it('decodes several lines in one chunk like lines one by one', () => {
    const lines = [chunk({ content: 'a' }), chunk({ content: 'b' }), doneLine()];
    const decoder = new OllamaStreamDecoder();
    const together = decoder.push(enc(lines.join('')));
    expect(together).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'a' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'b' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 50, outputTokens: 200 } },
    ]);
    expect(decoder.end()).toEqual([]);
    expect(decodeAll(new OllamaStreamDecoder(), lines)).toEqual(together);
  });

  it('joins a line split across chunks, even inside a multi-byte character', () => {
    const stream = enc(chunk({ content: 'Grüße 🌍' }) + doneLine());
    const expected: StreamEvent[] = [
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Grüße 🌍' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 50, outputTokens: 200 } },
    ];
    // Cut inside the 4-byte emoji: the decoder must wait for its other bytes.
    const emoji = stream.indexOf(0xf0);
    expect(
      decodeAll(new OllamaStreamDecoder(), [stream.slice(0, emoji + 2), stream.slice(emoji + 2)]),
    ).toEqual(expected);
    const bytes = Array.from({ length: stream.length }, (_, i) => stream.slice(i, i + 1));
    expect(decodeAll(new OllamaStreamDecoder(), bytes)).toEqual(expected);
  });

  it('accepts a final line without its newline and ignores lines after done', () => {
    const decoder = new OllamaStreamDecoder();
    expect(decoder.push(enc(chunk({ content: 'x' }) + doneLine().trimEnd()))).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'x' } },
    ]);
    expect(decoder.end()).toEqual([
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 50, outputTokens: 200 } },
    ]);

    const after = new OllamaStreamDecoder();
    const events = [...after.push(enc(doneLine())), ...after.push(enc(chunk({ content: 'late' })))];
    expect(events).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 50, outputTokens: 200 } },
    ]);
    expect(after.end()).toEqual([]);
  });

  it('fails on an error line in its own words', () => {
    const decoder = new OllamaStreamDecoder();
    expect(decoder.push(enc(chunk({ content: 'Hel' })))).toHaveLength(3);
    expect(
      failure(() =>
        decoder.push(enc('{"error":"an error was encountered while running the model: CUDA OOM"}\n')),
      ),
    ).toEqual({
      reason: 'provider_error',
      message: 'Ollama reported an error during the stream',
      status: 500,
    });
  });

  it('once the stream has begun, lets the events before an error out first and fails on the next call', () => {
    const error = '{"error":"an error was encountered while running the model: unexpected EOF"}\n';
    const failed = {
      reason: 'provider_error',
      message: 'Ollama reported an error during the stream',
      status: 500,
    };
    const decoder = new OllamaStreamDecoder();
    expect(decoder.push(enc(chunk({ content: 'Hel' })))).toEqual([
      { type: 'start', id: '', model: 'qwen3' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
    ]);
    expect(decoder.push(enc(chunk({ content: 'lo' }) + error + chunk({ content: 'late' })))).toEqual([
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo' } },
    ]);
    expect(failure(() => decoder.push(enc(doneLine())))).toEqual(failed);
    expect(failure(() => decoder.end())).toEqual(failed);

    // A broken line is held back the same way; an error with nothing before it in its chunk is not.
    const broken = new OllamaStreamDecoder();
    expect(broken.push(enc(chunk({ content: 'Hel' })))).toHaveLength(3);
    expect(broken.push(enc(`${chunk({ thinking: 'Hmm' })}<html>Bad gateway</html>\n`))).toEqual([
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'thinking' } },
      { type: 'block_delta', index: 1, delta: { type: 'thinking', text: 'Hmm' } },
    ]);
    expect(failure(() => broken.end())).toEqual({
      reason: 'cut',
      message: 'The Ollama stream broke off mid-line',
      status: undefined,
    });
    const alone = new OllamaStreamDecoder();
    expect(alone.push(enc(chunk({ content: 'Hel' })))).toHaveLength(3);
    expect(failure(() => alone.push(enc(error)))).toEqual(failed);
  });

  it('fails at once on an error in the first chunk, events before it or not (the request can still fall back)', () => {
    const decoder = new OllamaStreamDecoder();
    expect(
      failure(() => decoder.push(enc(`${chunk({ content: 'Hel' })}{"error":"model not loaded"}\n`))),
    ).toEqual({
      reason: 'provider_error',
      message: 'Ollama reported an error during the stream',
      status: 500,
    });
  });

  it('reports a stream cut mid-line as cut', () => {
    const decoder = new OllamaStreamDecoder();
    decoder.push(enc(`${chunk({ content: 'Hel' })}{"model":"qwen3","message":{"role":"assis`));
    expect(failure(() => decoder.end())).toEqual({
      reason: 'cut',
      message: 'The Ollama stream broke off mid-line',
      status: undefined,
    });
  });

  it('reports a stream without its done line as incomplete', () => {
    const decoder = new OllamaStreamDecoder();
    decoder.push(enc(chunk({ content: 'Hel' }) + chunk({ content: 'lo' })));
    expect(failure(() => decoder.end())).toEqual({
      reason: 'incomplete',
      message: 'The Ollama stream ended before its final line',
      status: undefined,
    });
    expect(failure(() => new OllamaStreamDecoder().end())).toEqual({
      reason: 'incomplete',
      message: 'The Ollama stream ended before its final line',
      status: undefined,
    });
  });
});

describe('createOllamaAdapter', () => {
  function adapter(baseUrl: string, headers?: Record<string, string>) {
    const config = configSchema.parse({
      providers: [{ id: 'local', type: 'ollama', baseUrl, ...(headers && { headers }) }],
    }).providers[0]!;
    return createOllamaAdapter(config);
  }
  const chat = request({
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    stream: true,
  });
  const chatBody = '{"model":"llama3.2","messages":[{"role":"user","content":"Hi"}],"stream":true}';

  it('speaks the ollama format, needs no key and has no token counting', () => {
    const ollama = adapter('http://localhost:11434');
    expect(ollama.format).toBe('ollama');
    expect(ollama.type).toBe('ollama');
    expect(ollama.requiresKey).toBe(false);
    expect(ollama.buildCountTokensCall).toBeUndefined();
    expect(ollama.readUsage({ prompt_eval_count: 3, eval_count: 4 })).toEqual({
      inputTokens: 3,
      outputTokens: 4,
    });
  });

  it('posts chat to <root>/api/chat, with the key as a bearer token when one is configured', () => {
    const ollama = adapter('http://localhost:11434', { 'x-team': 'search' });
    expect(ollama.buildChatCall(chat, undefined)).toEqual({
      path: '/api/chat',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'accept-encoding': 'identity',
        'x-team': 'search',
      },
      body: chatBody,
    });
    expect(ollama.buildChatCall(chat, new SecretString('proxy-token'))).toEqual({
      path: '/api/chat',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'accept-encoding': 'identity',
        'x-team': 'search',
        authorization: 'Bearer proxy-token',
      },
      body: chatBody,
    });
    expect(ollama.chat.encodeRequest(chat)).toEqual({ path: '/api/chat', body: chatBody });
  });

  it('takes a base URL ending in /v1 as the root above it', () => {
    for (const baseUrl of ['http://localhost:11434/v1', 'http://localhost:11434/v1/']) {
      expect(adapter(baseUrl).buildChatCall(chat, undefined).path).toBe('/api/chat');
    }
    const proxied = adapter('https://gpu.internal/ollama/v1');
    expect(proxied.chat.encodeRequest(chat).path).toBe('/ollama/api/chat');
    expect(
      proxied.buildCall('embeddings', 'nomic-embed-text', { model: 'embed', input: 'x' }, undefined).path,
    ).toBe('/ollama/v1/embeddings');
  });

  it('sends embeddings to the OpenAI-compatible endpoint with the routed model', () => {
    for (const baseUrl of ['http://localhost:11434', 'http://localhost:11434/v1']) {
      expect(
        adapter(baseUrl).buildCall(
          'embeddings',
          'nomic-embed-text',
          { model: 'embed', input: ['a', 'b'] },
          new SecretString('k'),
        ),
      ).toEqual({
        path: '/v1/embeddings',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'accept-encoding': 'identity',
          authorization: 'Bearer k',
        },
        body: '{"model":"nomic-embed-text","input":["a","b"]}',
      });
    }
  });

  it('has no chat pass-through, since there is no Ollama surface, and no token counting', () => {
    const ollama = adapter('http://localhost:11434');
    expect(() => ollama.buildCall('chat', 'm', {}, undefined)).toThrow('no Ollama surface');
    expect(rejection(() => ollama.buildCall('count_tokens', 'm', {}, undefined))).toEqual({
      message: 'This provider cannot count tokens',
      param: 'model',
    });
  });

  it('decodes answers and streams through its codec', () => {
    const { chat: codec } = adapter('http://localhost:11434');
    expect(
      codec.decodeResponse({
        model: 'llama3.2',
        message: { role: 'assistant', content: 'Hi' },
        done: true,
        done_reason: 'stop',
        prompt_eval_count: 1,
        eval_count: 2,
      }),
    ).toEqual({
      id: '',
      model: 'llama3.2',
      content: [{ type: 'text', text: 'Hi' }],
      stopReason: 'end_turn',
      usage: { inputTokens: 1, outputTokens: 2 },
    });
    const decoder = codec.streamDecoder();
    expect(decoder).toBeInstanceOf(OllamaStreamDecoder);
    expect(codec.streamDecoder()).not.toBe(decoder);
  });
});
