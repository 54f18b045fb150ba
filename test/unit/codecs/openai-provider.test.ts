import { describe, expect, it } from 'vitest';
import type { ChatRequest, ChatUsage, StreamEvent } from '../../../src/canonical/model.js';
import { createOpenAIChatCodec, type OpenAICodecOptions } from '../../../src/providers/openai/codec.js';
import { OpenAIStreamDecoder } from '../../../src/providers/openai/stream.js';
import { streamFailure as failure, refusal as rejection } from './thrown.js';

const CALL_ID = /^call_[0-9a-f]{24}$/;

const OPTIONS: OpenAICodecOptions = {
  pathFor: (model) => `/openai/deployments/${model}/chat/completions?api-version=2024-10-21`,
  streamUsage: true,
  maxTokensField: 'max_completion_tokens',
  customTools: true,
  openAIServer: true,
};

const codec = createOpenAIChatCodec(OPTIONS);

function request(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'gpt-4o',
    system: [],
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    stream: false,
    ...overrides,
  };
}

/** The encoded body, parsed. */
function encode(overrides: Partial<ChatRequest> = {}, options: Partial<OpenAICodecOptions> = {}): unknown {
  const { body } = createOpenAIChatCodec({ ...OPTIONS, ...options }).encodeRequest(request(overrides));
  return JSON.parse(body);
}

const IMAGE_MEDIA = 'Attachments from the result of tool call';

describe('OpenAI codec: encodeRequest', () => {
  it('sends the model and messages to the path for the model, and nothing unasked', () => {
    const encoded = codec.encodeRequest(request());
    expect(encoded).toEqual({
      path: '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21',
      body: '{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}',
    });
  });

  it('sends a lone system part as a string and several as text parts, in one leading system message', () => {
    expect(encode({ system: [{ type: 'text', text: 'Be brief.' }] })).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
      ],
    });
    expect(
      encode({
        system: [
          { type: 'text', text: 'Be brief.' },
          { type: 'text', text: 'Answer in French.' },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        {
          role: 'system',
          content: [
            { type: 'text', text: 'Be brief.' },
            { type: 'text', text: 'Answer in French.' },
          ],
        },
        { role: 'user', content: 'Hi' },
      ],
    });
  });

  it('keeps an instruction inside the conversation at its place, after the results of the calls it follows', () => {
    const instruction = (text: string) => ({
      role: 'system' as const,
      content: [{ type: 'text' as const, text }],
    });
    const body = encode({
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Fix it' }] },
        instruction('The user opened math.ts.'),
        { role: 'assistant', content: [{ type: 'tool_call', id: 'call_1', name: 'Read', arguments: '{}' }] },
        instruction('Reading is allowed.'),
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: 'call_1', content: [{ type: 'text', text: 'a - b' }] },
            { type: 'text', text: 'Go on' },
          ],
        },
      ],
    }) as { messages: unknown[] };
    expect(body.messages).toEqual([
      { role: 'user', content: 'Fix it' },
      { role: 'system', content: 'The user opened math.ts.' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'Read', arguments: '{}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'a - b' },
      { role: 'system', content: 'Reading is allowed.' },
      { role: 'user', content: 'Go on' },
    ]);
  });

  it('carries a multi-turn conversation, several user text parts as parts, assistant texts joined', () => {
    expect(
      encode({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Salut.' },
              { type: 'text', text: 'Ça va ?' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Oui.' },
              { type: 'text', text: 'Et toi ?' },
            ],
          },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Salut.\nÇa va ?' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Oui.' },
            { type: 'text', text: 'Et toi ?' },
          ],
        },
      ],
    });
  });

  it('sends base64 images as data URLs and image URLs as URLs, keeping the detail hint', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Compare' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
              { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' }, detail: 'low' },
            ],
          },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg', detail: 'low' } },
          ],
        },
      ],
    });
  });

  it('refuses an image given as a file reference, naming the part', () => {
    expect(
      rejection(() =>
        codec.encodeRequest(
          request({
            messages: [
              { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
              { role: 'assistant', content: [{ type: 'text', text: 'Hello' }] },
              {
                role: 'user',
                content: [
                  { type: 'text', text: 'Look' },
                  { type: 'image', source: { kind: 'file', fileId: 'file_123', issuer: 'openai' } },
                ],
              },
            ],
          }),
        ),
      ),
    ).toEqual({
      message: 'OpenAI-format providers need images as inline data (base64) or a URL, not a file reference',
      param: 'messages[2].content[1].source',
    });
  });

  it('sends documents as file parts (inline PDFs with a filename, or a file id), text documents as text', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'document',
                source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0=' },
                filename: 'report.pdf',
              },
              {
                type: 'document',
                source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0=' },
              },
              { type: 'document', source: { kind: 'base64', mediaType: 'text/plain', data: 'aGk=' } },
              { type: 'document', source: { kind: 'base64', mediaType: 'text/csv', data: 'YSxi' } },
              {
                type: 'document',
                source: { kind: 'file', fileId: 'file-abc', issuer: 'openai' },
                filename: 'ignored.pdf',
              },
            ],
          },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'file',
              file: { filename: 'report.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
            },
            {
              type: 'file',
              file: { filename: 'document.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' },
            },
            // Chat Completions' file parts take PDFs only: text goes as text.
            { type: 'text', text: 'hi' },
            { type: 'text', text: 'a,b' },
            { type: 'file', file: { file_id: 'file-abc' } },
          ],
        },
      ],
    });
  });

  it('refuses a document URL: the gateway never fetches, and OpenAI needs the data or a file id', () => {
    expect(
      rejection(() =>
        codec.encodeRequest(
          request({
            messages: [
              {
                role: 'user',
                content: [{ type: 'document', source: { kind: 'url', url: 'https://example.com/a.pdf' } }],
              },
            ],
          }),
        ),
      ),
    ).toEqual({
      message: 'OpenAI-format providers need document data inline (base64) or an OpenAI file id, not a URL',
      param: 'messages[0].content[0].source',
    });
  });

  it('sends tools as functions, with every tool choice and parallel_tool_calls', () => {
    const tools = [
      {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        strict: true,
      },
      { name: 'get_time', parameters: { type: 'object', properties: {} } },
    ];
    const encodedTools = [
      {
        type: 'function',
        function: {
          name: 'get_weather',
          description: 'Weather for a city',
          parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
          strict: true,
        },
      },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ];
    expect(encode({ tools })).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      tools: encodedTools,
    });
    const choices: Array<[ChatRequest['toolChoice'], unknown]> = [
      [{ type: 'auto' }, 'auto'],
      [{ type: 'none' }, 'none'],
      [{ type: 'required' }, 'required'],
      [
        { type: 'tool', name: 'get_time' },
        { type: 'function', function: { name: 'get_time' } },
      ],
    ];
    for (const [toolChoice, expected] of choices) {
      expect(encode({ tools, toolChoice, parallelToolCalls: false })).toEqual({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }],
        tools: encodedTools,
        tool_choice: expected,
        parallel_tool_calls: false,
      });
    }
  });

  it("sends an allowed-tools choice as OpenAI's, and a server imitating the API only those tools", () => {
    const tools = [
      { name: 'get_weather', parameters: { type: 'object', properties: {} } },
      { name: 'get_time', parameters: { type: 'object', properties: {} } },
    ];
    const toolChoice: ChatRequest['toolChoice'] = { type: 'allowed', mode: 'required', names: ['get_time'] };
    expect(encode({ tools, toolChoice })).toMatchObject({
      tools: [{ function: { name: 'get_weather' } }, { function: { name: 'get_time' } }],
      tool_choice: {
        type: 'allowed_tools',
        allowed_tools: { mode: 'required', tools: [{ type: 'function', function: { name: 'get_time' } }] },
      },
    });
    expect(encode({ tools, toolChoice }, { openAIServer: false, customTools: false })).toMatchObject({
      tools: [{ function: { name: 'get_time' } }],
      tool_choice: 'required',
    });
  });

  it('leaves out a tool choice and parallel_tool_calls when there are no tools (OpenAI refuses them)', () => {
    expect(encode({ tools: [], toolChoice: { type: 'required' }, parallelToolCalls: true })).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
    });
  });

  it('replays parallel tool calls and answers them with one tool message per result', () => {
    expect(
      encode({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Weather and time in Paris?' }] },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', text: 'Two tools are needed.', signature: 'sig' },
              { type: 'redacted_thinking', data: 'opaque' },
              { type: 'text', text: 'Let me check.' },
              { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
              { type: 'tool_call', id: 'toolu_b', name: 'get_time', arguments: '{}', signature: 'gemini' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', toolCallId: 'call_a', content: [{ type: 'text', text: '18°C' }] },
              { type: 'tool_result', toolCallId: 'toolu_b', content: [{ type: 'text', text: '14:05' }] },
            ],
          },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', text: 'Once more.' },
              { type: 'tool_call', id: 'call_c', name: 'get_time', arguments: '{"tz":"CET"}' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', toolCallId: 'call_c', content: [{ type: 'text', text: '14:06' }] },
            ],
          },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Weather and time in Paris?' },
        {
          role: 'assistant',
          content: 'Let me check.',
          tool_calls: [
            {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
            },
            { id: 'toolu_b', type: 'function', function: { name: 'get_time', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_a', content: '18°C' },
        { role: 'tool', tool_call_id: 'toolu_b', content: '14:05' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: 'call_c', type: 'function', function: { name: 'get_time', arguments: '{"tz":"CET"}' } },
          ],
        },
        { role: 'tool', tool_call_id: 'call_c', content: '14:06' },
      ],
    });
  });

  it('shortens tool call ids longer than OpenAI takes, the same way for the call and its result', () => {
    const long = `fc-1a2b3c4d__thought__${'A'.repeat(60)}`;
    const history = (): Partial<ChatRequest> => ({
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_call', id: long, name: 'get_weather', arguments: '{}' },
            { type: 'tool_call', id: 'x'.repeat(40), name: 'get_weather', arguments: '{}' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: long, content: [{ type: 'text', text: '18°C' }] },
            { type: 'tool_result', toolCallId: 'x'.repeat(40), content: [{ type: 'text', text: '19°C' }] },
          ],
        },
      ],
    });
    type Body = { messages: Array<{ tool_calls?: Array<{ id: string }>; tool_call_id?: string }> };
    const body = encode(history()) as Body;
    const [short, kept] = body.messages[1]!.tool_calls!.map((call) => call.id);
    expect(short).toMatch(/^call_[0-9a-f]{35}$/);
    expect(kept).toBe('x'.repeat(40));
    expect(body.messages[2]!.tool_call_id).toBe(short);
    expect(body.messages[3]!.tool_call_id).toBe(kept);
    // The next turn replays the same history: the same id again.
    expect((encode(history()) as Body).messages[2]!.tool_call_id).toBe(short);
  });

  it('sends an assistant turn that held only thinking as empty text (OpenAI refuses one without content)', () => {
    expect(
      encode({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'thinking', text: 'Hmm.', signature: 's' }] },
          { role: 'user', content: [{ type: 'text', text: 'Well?' }] },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: '' },
        { role: 'user', content: 'Well?' },
      ],
    });
  });

  it('moves tool result media into a user message after the tool messages, marks errors, keeps the turn order', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                toolCallId: 'call_shot',
                content: [
                  { type: 'text', text: 'Screenshot taken' },
                  { type: 'image', source: { kind: 'base64', mediaType: 'image/jpeg', data: '/9j/4AA=' } },
                  { type: 'text', text: '1920x1080' },
                ],
              },
              {
                type: 'tool_result',
                toolCallId: 'call_read',
                isError: true,
                content: [{ type: 'text', text: 'File not found' }],
              },
              { type: 'tool_result', toolCallId: 'call_empty', isError: true, content: [] },
              {
                type: 'tool_result',
                toolCallId: 'call_pdf',
                content: [
                  {
                    type: 'document',
                    source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0=' },
                    filename: 'a.pdf',
                  },
                ],
              },
              { type: 'text', text: 'What do you see?' },
            ],
          },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        {
          role: 'tool',
          tool_call_id: 'call_shot',
          content: [
            { type: 'text', text: 'Screenshot taken' },
            { type: 'text', text: '1920x1080' },
          ],
        },
        { role: 'tool', tool_call_id: 'call_read', content: 'Error: File not found' },
        { role: 'tool', tool_call_id: 'call_empty', content: 'Error: ' },
        { role: 'tool', tool_call_id: 'call_pdf', content: '' },
        {
          role: 'user',
          content: [
            { type: 'text', text: `${IMAGE_MEDIA} call_shot:` },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,/9j/4AA=' } },
            { type: 'text', text: `${IMAGE_MEDIA} call_pdf:` },
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
            { type: 'text', text: 'What do you see?' },
          ],
        },
      ],
    });
  });

  it('marks an error among several text parts on the first, and puts other user parts after the tool messages', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Here you go.' },
              {
                type: 'tool_result',
                toolCallId: 'call_1',
                isError: true,
                content: [
                  { type: 'text', text: 'Timeout' },
                  { type: 'text', text: 'after 30 s' },
                ],
              },
            ],
          },
        ],
      }),
    ).toEqual({
      model: 'gpt-4o',
      messages: [
        {
          role: 'tool',
          tool_call_id: 'call_1',
          content: [
            { type: 'text', text: 'Error: Timeout' },
            { type: 'text', text: 'after 30 s' },
          ],
        },
        { role: 'user', content: 'Here you go.' },
      ],
    });
  });

  it('refuses a tool result image it cannot send, naming the nested part', () => {
    expect(
      rejection(() =>
        codec.encodeRequest(
          request({
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'text', text: 'Results:' },
                  {
                    type: 'tool_result',
                    toolCallId: 'call_1',
                    content: [
                      { type: 'text', text: 'ok' },
                      {
                        type: 'image',
                        source: { kind: 'file', fileId: 'file-1', issuer: 'openai', mediaType: 'image/png' },
                      },
                    ],
                  },
                ],
              },
            ],
          }),
        ),
      ),
    ).toEqual({
      message: 'OpenAI-format providers need images as inline data (base64) or a URL, not a file reference',
      param: 'messages[0].content[1].content[1].source',
    });
  });

  it('maps every response format', () => {
    const formats: Array<[ChatRequest['responseFormat'], unknown]> = [
      [{ type: 'text' }, { type: 'text' }],
      [{ type: 'json_object' }, { type: 'json_object' }],
      [
        { type: 'json_schema', name: 'answer' },
        { type: 'json_schema', json_schema: { name: 'answer' } },
      ],
      [
        {
          type: 'json_schema',
          name: 'answer',
          description: 'The answer',
          strict: true,
          schema: { type: 'object', properties: { n: { type: 'integer' } } },
        },
        {
          type: 'json_schema',
          json_schema: {
            name: 'answer',
            schema: { type: 'object', properties: { n: { type: 'integer' } } },
            strict: true,
            description: 'The answer',
          },
        },
      ],
    ];
    for (const [responseFormat, expected] of formats) {
      expect(encode({ responseFormat })).toEqual({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }],
        response_format: expected,
      });
    }
  });

  it('sends sampling, stop sequences and the user, and drops top_k (Chat Completions has none)', () => {
    expect(encode({ temperature: 0.2, topP: 0.9, topK: 40, stop: ['\n\n', 'END'], user: 'user-42' })).toEqual(
      {
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }],
        temperature: 0.2,
        top_p: 0.9,
        stop: ['\n\n', 'END'],
        user: 'user-42',
      },
    );
    expect(encode({ stop: [] })).toEqual({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }] });
  });

  it('sends the seed and penalties after top_p, zero ones included', () => {
    expect(
      codec.encodeRequest(
        request({ topP: 0.9, seed: 42, frequencyPenalty: 0.5, presencePenalty: -0.5, stop: ['END'] }),
      ).body,
    ).toBe(
      '{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"top_p":0.9,"seed":42,' +
        '"frequency_penalty":0.5,"presence_penalty":-0.5,"stop":["END"]}',
    );
    expect(codec.encodeRequest(request({ seed: 0, frequencyPenalty: 0, presencePenalty: 0 })).body).toBe(
      '{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"seed":0,"frequency_penalty":0,"presence_penalty":0}',
    );
  });

  it('maps thinking to reasoning_effort: the effort as given, else one derived from the budget', () => {
    const cases: Array<[ChatRequest['thinking'], string | undefined]> = [
      [{ enabled: true, effort: 'minimal' }, 'minimal'],
      [{ enabled: true, effort: 'xhigh' }, 'xhigh'],
      [{ enabled: true, effort: 'low', budgetTokens: 50_000 }, 'low'],
      [{ enabled: true, budgetTokens: 1024 }, 'low'],
      [{ enabled: true, budgetTokens: 1025 }, 'medium'],
      [{ enabled: true, budgetTokens: 8192 }, 'medium'],
      [{ enabled: true, budgetTokens: 8193 }, 'high'],
      [{ enabled: true }, undefined],
      [{ enabled: false, effort: 'high', budgetTokens: 4096 }, undefined],
    ];
    for (const [thinking, effort] of cases) {
      expect(encode({ thinking })).toEqual({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Hi' }],
        ...(effort !== undefined && { reasoning_effort: effort }),
      });
    }
  });

  it('sends the token limit in the configured field', () => {
    expect(encode({ maxTokens: 256 })).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      max_completion_tokens: 256,
    });
    expect(encode({ maxTokens: 256 }, { maxTokensField: 'max_tokens' })).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 256,
    });
  });

  it('asks for usage on streams only where the provider takes stream_options', () => {
    expect(encode({ stream: true })).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(encode({ stream: true }, { streamUsage: false })).toEqual({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
    });
  });

  it('writes the body keys in one fixed order, so the same request gives the same bytes', () => {
    const full = request({
      stream: true,
      user: 'u1',
      stop: ['END'],
      topP: 0.5,
      temperature: 0,
      maxTokens: 10,
      thinking: { enabled: true, effort: 'low' },
      responseFormat: { type: 'json_object' },
      parallelToolCalls: true,
      toolChoice: { type: 'auto' },
      tools: [{ name: 't', parameters: { type: 'object' } }],
      system: [{ type: 'text', text: 'S' }],
    });
    const expected =
      '{"model":"gpt-4o","messages":[{"role":"system","content":"S"},{"role":"user","content":"Hi"}],' +
      '"tools":[{"type":"function","function":{"name":"t","parameters":{"type":"object"}}}],' +
      '"tool_choice":"auto","parallel_tool_calls":true,"response_format":{"type":"json_object"},' +
      '"reasoning_effort":"low","max_completion_tokens":10,"temperature":0,"top_p":0.5,"stop":["END"],' +
      '"user":"u1","stream":true,"stream_options":{"include_usage":true}}';
    expect(codec.encodeRequest(full).body).toBe(expected);
    expect(codec.encodeRequest(full).body).toBe(expected);
  });
});

function completion(
  message: Record<string, unknown>,
  finishReason: string | null = 'stop',
  usage: unknown = { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
): Record<string, unknown> {
  return {
    id: 'chatcmpl-123',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-4o-2024-08-06',
    choices: [
      { index: 0, message: { role: 'assistant', ...message }, logprobs: null, finish_reason: finishReason },
    ],
    usage,
  };
}

describe('OpenAI codec: decodeResponse', () => {
  it('decodes a text answer', () => {
    expect(codec.decodeResponse(completion({ content: 'Hello!', refusal: null, annotations: [] }))).toEqual({
      id: 'chatcmpl-123',
      model: 'gpt-4o-2024-08-06',
      content: [{ type: 'text', text: 'Hello!' }],
      stopReason: 'end_turn',
      usage: { inputTokens: 12, outputTokens: 5 },
    });
  });

  it('decodes tool calls, keeping their ids and arguments text', () => {
    expect(
      codec.decodeResponse(
        completion(
          {
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
          'tool_calls',
        ),
      ),
    ).toEqual({
      id: 'chatcmpl-123',
      model: 'gpt-4o-2024-08-06',
      content: [
        { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'tool_call', id: 'call_b', name: 'get_time', arguments: '{}' },
      ],
      stopReason: 'tool_use',
      usage: { inputTokens: 12, outputTokens: 5 },
    });
  });

  it('gives a tool call without an id a generated one, and says tool_use when a server says stop', () => {
    const response = codec.decodeResponse(
      completion(
        { content: 'Calling.', tool_calls: [{ function: { name: 'ping', arguments: '' } }] },
        'stop',
      ),
    );
    expect(response).toEqual({
      id: 'chatcmpl-123',
      model: 'gpt-4o-2024-08-06',
      content: [
        { type: 'text', text: 'Calling.' },
        { type: 'tool_call', id: expect.stringMatching(CALL_ID), name: 'ping', arguments: '' },
      ],
      stopReason: 'tool_use',
      usage: { inputTokens: 12, outputTokens: 5 },
    });
  });

  it('puts reasoning_content (or reasoning) first as thinking', () => {
    expect(
      codec.decodeResponse(completion({ reasoning_content: 'Think, think.', content: 'Four.' })).content,
    ).toEqual([
      { type: 'thinking', text: 'Think, think.' },
      { type: 'text', text: 'Four.' },
    ]);
    expect(
      codec.decodeResponse(completion({ reasoning: 'Via OpenRouter.', content: 'Four.' })).content,
    ).toEqual([
      { type: 'thinking', text: 'Via OpenRouter.' },
      { type: 'text', text: 'Four.' },
    ]);
    expect(
      codec.decodeResponse(completion({ reasoning_content: 'Once.', reasoning: 'Once.', content: 'Four.' }))
        .content,
    ).toEqual([
      { type: 'thinking', text: 'Once.' },
      { type: 'text', text: 'Four.' },
    ]);
  });

  it('decodes a refusal as text marked as one, with the refusal stop reason', () => {
    expect(codec.decodeResponse(completion({ content: null, refusal: "I can't help with that." }))).toEqual({
      id: 'chatcmpl-123',
      model: 'gpt-4o-2024-08-06',
      content: [{ type: 'text', text: "I can't help with that.", refusal: true }],
      stopReason: 'refusal',
      usage: { inputTokens: 12, outputTokens: 5 },
    });
  });

  it('keeps the output limit and the filter as the stop reason of a refusal they ended', () => {
    const refused = { content: null, refusal: "I'm sorry, but I" };
    expect(codec.decodeResponse(completion(refused, 'length')).stopReason).toBe('max_tokens');
    expect(codec.decodeResponse(completion(refused, 'content_filter')).stopReason).toBe('content_filter');
    expect(codec.decodeResponse(completion(refused, null)).stopReason).toBe('refusal');
  });

  it('reads cached and reasoning tokens as subsets of input and output', () => {
    const usage = {
      prompt_tokens: 2006,
      completion_tokens: 300,
      total_tokens: 2306,
      prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 256, audio_tokens: 0 },
    };
    expect(codec.decodeResponse(completion({ content: 'Ok' }, 'stop', usage)).usage).toEqual({
      inputTokens: 2006,
      outputTokens: 300,
      cachedTokens: 1920,
      reasoningTokens: 256,
    });
    // No usage is not zero usage: the gateway charges such an answer its reservation.
    expect(codec.decodeResponse(completion({ content: 'Ok' }, 'stop', null)).usage).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      unreported: true,
    });
  });

  it('maps every finish_reason', () => {
    const cases: Array<[string | null, string]> = [
      ['stop', 'end_turn'],
      ['length', 'max_tokens'],
      ['tool_calls', 'tool_use'],
      ['function_call', 'tool_use'],
      ['content_filter', 'content_filter'],
      [null, 'end_turn'],
      ['something_new', 'end_turn'],
    ];
    for (const [finishReason, stopReason] of cases) {
      expect(codec.decodeResponse(completion({ content: 'x' }, finishReason)).stopReason).toBe(stopReason);
    }
  });

  it('refuses what is not a chat.completion', () => {
    const payloads: unknown[] = [
      null,
      'Hello',
      { error: { message: 'Invalid API key', type: 'invalid_request_error' } },
      { ...completion({ content: 'x' }), object: 'chat.completion.chunk' },
      { ...completion({ content: 'x' }), choices: [] },
      { ...completion({ content: 'x' }), choices: [{ index: 0, delta: {} }] },
      completion({ content: null, tool_calls: [{ id: 'call_1', type: 'custom', custom: { name: 'x' } }] }),
    ];
    for (const payload of payloads) {
      expect(() => codec.decodeResponse(payload)).toThrow(new Error('malformed provider response'));
    }
  });
});

const encoder = new TextEncoder();

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> {
  return {
    id: 'chatcmpl-9',
    object: 'chat.completion.chunk',
    created: 1_700_000_000,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
  };
}

const usageChunk = (usage: Record<string, unknown>) => ({
  id: 'chatcmpl-9',
  object: 'chat.completion.chunk',
  created: 1_700_000_000,
  model: 'gpt-4o-mini',
  choices: [],
  usage,
});

/** SSE events with the given data, each a JSON payload or a raw string. */
const sse = (...events: unknown[]): string =>
  events.map((event) => `data: ${typeof event === 'string' ? event : JSON.stringify(event)}\n\n`).join('');

function decode(...chunks: Array<string | Uint8Array>): StreamEvent[] {
  const decoder = codec.streamDecoder();
  const events = chunks.flatMap((piece) =>
    decoder.push(typeof piece === 'string' ? encoder.encode(piece) : piece),
  );
  return [...events, ...decoder.end()];
}

const START: StreamEvent = { type: 'start', id: 'chatcmpl-9', model: 'gpt-4o-mini' };
/** A stream without a usage chunk: zeros the gateway knows not to charge as such. */
const NO_USAGE: ChatUsage = { inputTokens: 0, outputTokens: 0, unreported: true };

const toolCallDelta = (index: number, fields: Record<string, unknown>) => ({
  content: null,
  tool_calls: [{ index, ...fields }],
});

describe('OpenAI codec: stream decoder', () => {
  it('is an OpenAIStreamDecoder, fresh for each stream', () => {
    const first = codec.streamDecoder();
    expect(first).toBeInstanceOf(OpenAIStreamDecoder);
    expect(codec.streamDecoder()).not.toBe(first);
  });

  it('decodes a text answer with its usage chunk', () => {
    const events = decode(
      sse(
        chunk({ role: 'assistant', content: '', refusal: null }),
        chunk({ content: 'Hel' }),
        chunk({ content: 'lo!' }),
        chunk({}, 'stop'),
        usageChunk({
          prompt_tokens: 20,
          completion_tokens: 3,
          total_tokens: 23,
          prompt_tokens_details: { cached_tokens: 16 },
          completion_tokens_details: { reasoning_tokens: 0 },
        }),
        '[DONE]',
      ),
    );
    expect(events).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo!' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'finish',
        stopReason: 'end_turn',
        usage: { inputTokens: 20, outputTokens: 3, cachedTokens: 16 },
      },
    ]);
  });

  it('decodes reasoning_content and reasoning as a thinking block before the text', () => {
    expect(
      decode(
        sse(
          chunk({ role: 'assistant', reasoning_content: 'Two ' }),
          chunk({ reasoning_content: 'plus two.' }),
          chunk({ reasoning: 'And once more.' }),
          chunk({ content: 'Four.' }),
          chunk({}, 'length'),
          usageChunk({
            prompt_tokens: 8,
            completion_tokens: 40,
            completion_tokens_details: { reasoning_tokens: 35 },
          }),
          '[DONE]',
        ),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'thinking' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Two ' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'plus two.' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'And once more.' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'text' } },
      { type: 'block_delta', index: 1, delta: { type: 'text', text: 'Four.' } },
      { type: 'block_stop', index: 1 },
      {
        type: 'finish',
        stopReason: 'max_tokens',
        usage: { inputTokens: 8, outputTokens: 40, reasoningTokens: 35 },
      },
    ]);
  });

  it('streams two parallel tool calls sent one after the other, the second once the first stops', () => {
    expect(
      decode(
        sse(
          chunk({ role: 'assistant', content: 'Checking.' }),
          chunk(
            toolCallDelta(0, {
              id: 'call_a',
              type: 'function',
              function: { name: 'get_weather', arguments: '' },
            }),
          ),
          chunk(toolCallDelta(0, { function: { arguments: '{"city":' } })),
          chunk(toolCallDelta(0, { function: { arguments: '"Paris"}' } })),
          chunk(
            toolCallDelta(1, {
              id: 'call_b',
              type: 'function',
              function: { name: 'get_time', arguments: '' },
            }),
          ),
          chunk(toolCallDelta(1, { function: { arguments: '{"tz":' } })),
          chunk(toolCallDelta(1, { function: { arguments: '"CET"}' } })),
          chunk({}, 'tool_calls'),
          usageChunk({ prompt_tokens: 50, completion_tokens: 30 }),
          '[DONE]',
        ),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Checking.' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'call_a', name: 'get_weather' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"city":' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '"Paris"}' } },
      { type: 'block_stop', index: 1 },
      { type: 'block_start', index: 2, block: { type: 'tool_call', id: 'call_b', name: 'get_time' } },
      { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '{"tz":"CET"}' } },
      { type: 'block_stop', index: 2 },
      { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 50, outputTokens: 30 } },
    ]);
  });

  it('reorders interleaved tool call deltas into sequential blocks', () => {
    const decoder = codec.streamDecoder();
    const push = (...events: unknown[]) => decoder.push(encoder.encode(sse(...events)));
    expect(
      push(
        chunk(
          toolCallDelta(0, {
            id: 'call_a',
            type: 'function',
            function: { name: 'get_weather', arguments: '' },
          }),
        ),
        chunk(
          toolCallDelta(1, { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }),
        ),
        chunk(toolCallDelta(0, { function: { arguments: '{"city":' } })),
        chunk(toolCallDelta(1, { function: { arguments: '{"tz":' } })),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'tool_call', id: 'call_a', name: 'get_weather' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '{"city":' } },
    ]);
    expect(
      push(
        chunk(toolCallDelta(0, { function: { arguments: '"Paris"}' } })),
        chunk(toolCallDelta(1, { function: { arguments: '"CET"}' } })),
        chunk({}, 'tool_calls'),
      ),
    ).toEqual([{ type: 'block_delta', index: 0, delta: { type: 'arguments', json: '"Paris"}' } }]);
    expect(push('[DONE]')).toEqual([
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'call_b', name: 'get_time' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"tz":"CET"}' } },
      { type: 'block_stop', index: 1 },
      { type: 'finish', stopReason: 'tool_use', usage: NO_USAGE },
    ]);
    expect(decoder.end()).toEqual([]);
  });

  it('takes tool calls without an index (each call with its id, continuations without) and makes missing ids', () => {
    const events = decode(
      sse(
        chunk({ tool_calls: [{ id: 'call_x', function: { name: 'a', arguments: '{"n":' } }] }),
        chunk({ tool_calls: [{ function: { arguments: '1}' } }] }),
        chunk({ tool_calls: [{ id: 'call_y', function: { name: 'b', arguments: '{}' } }] }),
        chunk({ tool_calls: [{ index: 0, function: { name: 'c', arguments: '{}' } }] }),
        chunk({}, 'tool_calls'),
        '[DONE]',
      ),
    );
    expect(events).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'tool_call', id: 'call_x', name: 'a' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '{"n":' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '1}' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'call_y', name: 'b' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 1 },
      {
        type: 'block_start',
        index: 2,
        block: { type: 'tool_call', id: expect.stringMatching(CALL_ID), name: 'c' },
      },
      { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 2 },
      { type: 'finish', stopReason: 'tool_use', usage: NO_USAGE },
    ]);
  });

  it('tells apart calls a server gives the same index, by their ids', () => {
    expect(
      decode(
        sse(
          chunk(
            toolCallDelta(0, { id: 'call_a', type: 'function', function: { name: 'write', arguments: '' } }),
          ),
          chunk(toolCallDelta(0, { function: { arguments: '{"path":"a.py"}' } })),
          chunk(
            toolCallDelta(0, { id: 'call_b', type: 'function', function: { name: 'write', arguments: '' } }),
          ),
          chunk(toolCallDelta(0, { function: { arguments: '{"path":"b.py"}' } })),
          chunk(toolCallDelta(0, { id: 'call_b', function: { arguments: '' } })),
          chunk({}, 'tool_calls'),
          '[DONE]',
        ),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'tool_call', id: 'call_a', name: 'write' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '{"path":"a.py"}' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'call_b', name: 'write' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"path":"b.py"}' } },
      { type: 'block_stop', index: 1 },
      { type: 'finish', stopReason: 'tool_use', usage: NO_USAGE },
    ]);
  });

  it('closes every tool call when text follows them, and fails if one then continues', () => {
    const decoder = codec.streamDecoder();
    const push = (...events: unknown[]) => decoder.push(encoder.encode(sse(...events)));
    expect(
      push(
        chunk(toolCallDelta(0, { id: 'call_a', function: { name: 'a', arguments: '{' } })),
        chunk(toolCallDelta(1, { id: 'call_b', function: { name: 'b', arguments: '{}' } })),
        chunk({ content: 'Done.' }),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'tool_call', id: 'call_a', name: 'a' } },
      { type: 'block_delta', index: 0, delta: { type: 'arguments', json: '{' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'tool_call', id: 'call_b', name: 'b' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 1 },
      { type: 'block_start', index: 2, block: { type: 'text' } },
      { type: 'block_delta', index: 2, delta: { type: 'text', text: 'Done.' } },
    ]);
    expect(push(chunk(toolCallDelta(0, { function: { arguments: '' } })))).toEqual([]);
    expect(failure(() => push(chunk(toolCallDelta(0, { function: { arguments: '}' } }))))).toEqual({
      reason: 'provider_error',
      message: 'The provider continued a tool call after it had ended',
      status: 502,
    });
  });

  it('decodes a streamed refusal as a text block of its own, marked as one, with the refusal stop reason', () => {
    expect(
      decode(
        sse(chunk({ role: 'assistant', refusal: "I can't" }), chunk({ refusal: ' help.' }, 'stop'), '[DONE]'),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'text', refusal: true } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: "I can't" } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: ' help.' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'refusal', usage: NO_USAGE },
    ]);
  });

  it("starts from the first chunk with a choice, past Azure's prompt filter chunk", () => {
    const filterChunk = {
      choices: [],
      created: 0,
      id: '',
      model: '',
      object: '',
      prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
    };
    expect(decode(sse(filterChunk, chunk({ content: 'Hi' }, 'content_filter'), '[DONE]'))).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hi' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'content_filter', usage: NO_USAGE },
    ]);
    expect(decode(sse('[DONE]'))).toEqual([
      { type: 'start', id: '', model: '' },
      { type: 'finish', stopReason: 'end_turn', usage: NO_USAGE },
    ]);
  });

  it('fails on an error event with its own words and the status the provider named', () => {
    const cases: Array<[unknown, number]> = [
      [{ error: { message: 'Rate limit reached for org-secret', type: 'requests', code: '429' } }, 429],
      [{ error: { message: 'Upstream overloaded', code: 503 } }, 503],
      [{ error: { message: 'The server had an error', type: 'server_error', code: null } }, 500],
      [{ error: { message: 'Weird', code: 42 } }, 500],
      [{ error: 'boom' }, 500],
    ];
    for (const [payload, status] of cases) {
      const decoder = codec.streamDecoder();
      expect(decoder.push(encoder.encode(sse(chunk({ content: 'Hi' }))))).toHaveLength(3);
      expect(failure(() => decoder.push(encoder.encode(sse(payload))))).toEqual({
        reason: 'provider_error',
        message: 'The provider reported an error during the stream',
        status,
      });
    }
  });

  it('once the stream has begun, lets the events before an error out first and fails on the next call', () => {
    const decoder = codec.streamDecoder();
    expect(decoder.push(encoder.encode(sse(chunk({ role: 'assistant', content: '' }))))).toEqual([START]);
    const error = { error: { message: 'The server had an error', type: 'server_error' } };
    expect(decoder.push(encoder.encode(sse(chunk({ content: 'Hel' }), error)))).toEqual([
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
    ]);
    const failed = {
      reason: 'provider_error',
      message: 'The provider reported an error during the stream',
      status: 500,
    };
    expect(failure(() => decoder.push(encoder.encode(sse(chunk({ content: 'lo' })))))).toEqual(failed);
    expect(failure(() => decoder.end())).toEqual(failed);
  });

  it('fails at once on an error in the first chunk, events before it or not (the request can still fall back)', () => {
    const decoder = codec.streamDecoder();
    const error = { error: { message: 'The server had an error', type: 'server_error' } };
    expect(failure(() => decoder.push(encoder.encode(sse(chunk({ content: 'Hel' }), error))))).toEqual({
      reason: 'provider_error',
      message: 'The provider reported an error during the stream',
      status: 500,
    });
  });

  it('fails as cut when the body ends mid-event', () => {
    const decoder = codec.streamDecoder();
    decoder.push(encoder.encode(`${sse(chunk({ content: 'Hi' }, 'stop'))}data: {"id":"chatcmpl-9","ob`));
    expect(failure(() => decoder.end())).toEqual({
      reason: 'cut',
      message: 'The provider stream broke off mid-event',
      status: undefined,
    });
  });

  it('fails as incomplete when the body ends without [DONE], even after a finish reason', () => {
    for (const events of [
      [chunk({ content: 'Hi' })],
      [chunk({ content: 'Hi' }), chunk({}, 'stop'), usageChunk({ prompt_tokens: 3, completion_tokens: 1 })],
    ]) {
      const decoder = codec.streamDecoder();
      decoder.push(encoder.encode(sse(...events)));
      expect(failure(() => decoder.end())).toEqual({
        reason: 'incomplete',
        message: 'The provider stream ended before the answer finished',
        status: undefined,
      });
    }
  });

  it('fails as cut on an event that is not JSON', () => {
    const decoder = codec.streamDecoder();
    expect(failure(() => decoder.push(encoder.encode('data: <html>Bad gateway</html>\n\n')))).toEqual({
      reason: 'cut',
      message: 'The provider stream carried an event that is not JSON',
      status: undefined,
    });
  });

  it('ignores comments and whatever follows [DONE]', () => {
    const decoder = codec.streamDecoder();
    expect(
      decoder.push(
        encoder.encode(
          `: OPENROUTER PROCESSING\n\n${sse(chunk({ content: 'Hi' }, 'stop'), '[DONE]', chunk({ content: 'late' }))}`,
        ),
      ),
    ).toEqual([
      START,
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hi' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: NO_USAGE },
    ]);
    expect(decoder.push(encoder.encode(sse(chunk({ content: 'later' }))))).toEqual([]);
    expect(decoder.end()).toEqual([]);
  });

  it('decodes the same events whatever the chunk boundaries, even inside a multi-byte character', () => {
    const bytes = encoder.encode(
      sse(
        chunk({ role: 'assistant', content: 'Grüße ' }),
        chunk({ content: '🌍!' }, 'stop'),
        '[DONE]',
      ).replaceAll('\n', '\r\n'),
    );
    const expected: StreamEvent[] = [
      START,
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Grüße ' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: '🌍!' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: NO_USAGE },
    ];
    // Split inside the four bytes of the emoji, then one byte at a time.
    const globe = bytes.indexOf(0xf0);
    expect(decode(bytes.slice(0, globe + 2), bytes.slice(globe + 2))).toEqual(expected);
    expect(decode(...Array.from(bytes, (byte) => Uint8Array.of(byte)))).toEqual(expected);
  });
});
