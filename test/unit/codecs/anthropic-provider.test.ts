import { describe, expect, it } from 'vitest';
import type { ChatRequest, StreamEvent, ToolDefinition } from '../../../src/canonical/model.js';
import { configSchema } from '../../../src/config/index.js';
import { SecretString } from '../../../src/keys/index.js';
import {
  anthropicUsage,
  decodeAnthropicResponse,
  encodeAnthropicRequest,
  JSON_OBJECT_INSTRUCTION,
  readAnthropicUsage,
} from '../../../src/providers/anthropic/codec.js';
import { createAnthropicAdapter } from '../../../src/providers/anthropic/index.js';
import { AnthropicStreamDecoder } from '../../../src/providers/anthropic/stream.js';
import { streamFailure as failure, refusal as unsupported } from './thrown.js';

const GENERATED = /^call_[0-9a-f]{24}$/;

const request = (fields: Partial<ChatRequest>): ChatRequest => ({
  model: 'claude-sonnet-4-5',
  system: [],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  stream: false,
  ...fields,
});

const userText = (text: string) => ({ role: 'user' as const, content: [{ type: 'text' as const, text }] });
const encode = (fields: Partial<ChatRequest>) => encodeAnthropicRequest(request(fields), {});

const weather: ToolDefinition = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('Anthropic request encoding', () => {
  it('sends a bare request with the default max_tokens, in a fixed key order', () => {
    expect(JSON.stringify(encode({}))).toBe(
      '{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}',
    );
  });

  it('carries every generation setting', () => {
    expect(
      encode({
        maxTokens: 300,
        temperature: 0.2,
        topK: 40,
        stop: ['END', '\n\nHuman:'],
        user: 'end-user-7',
        stream: true,
      }),
    ).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 300,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stop_sequences: ['END', '\n\nHuman:'],
      temperature: 0.2,
      top_k: 40,
      metadata: { user_id: 'end-user-7' },
      stream: true,
    });
    expect(encode({ topP: 0.9 })).toMatchObject({ top_p: 0.9 });
    expect(encode({ stop: [] })).not.toHaveProperty('stop_sequences');
  });

  it('refuses stop sequences of only whitespace, which Anthropic refuses', () => {
    expect(unsupported(() => encode({ stop: ['END', '\n'] }))).toEqual({
      message: 'Anthropic takes only stop sequences with a non-whitespace character',
      param: 'stop',
    });
    expect(unsupported(() => encode({ stop: [''] })).param).toBe('stop');
    expect(encode({ stop: ['\nEND'] })).toMatchObject({ stop_sequences: ['\nEND'] });
  });

  it('sends only one of temperature and top_p, which current models refuse together', () => {
    const sampling = (temperature: number, topP: number) => {
      const body = encode({ temperature, topP });
      return { temperature: body.temperature, top_p: body.top_p };
    };
    // The temperature, as Anthropic advises, unless it is Anthropic's default (1, no setting at all).
    expect(sampling(0.2, 0.9)).toEqual({ temperature: 0.2, top_p: undefined });
    expect(sampling(0.2, 1)).toEqual({ temperature: 0.2, top_p: undefined });
    expect(sampling(1, 0.9)).toEqual({ temperature: undefined, top_p: 0.9 });
  });

  it("refuses a temperature above Anthropic's 1", () => {
    expect(unsupported(() => encode({ temperature: 1.5 }))).toEqual({
      message: 'Anthropic takes a temperature from 0 to 1',
      param: 'temperature',
    });
    expect(encode({ temperature: 1 })).toMatchObject({ temperature: 1 });
  });

  it('refuses the sampling settings Anthropic refuses while the model thinks, and sends the others', () => {
    const thinking = { enabled: true, effort: 'low' } as const;
    for (const temperature of [0, 0.7, 1.5]) {
      expect(unsupported(() => encode({ temperature, thinking }))).toEqual({
        message: 'Anthropic takes no temperature but 1 while the model thinks',
        param: 'temperature',
      });
    }
    expect(unsupported(() => encode({ topK: 1, thinking }))).toEqual({
      message: 'Anthropic takes no top-k sampling while the model thinks',
      param: 'top_k',
    });
    expect(unsupported(() => encode({ topP: 0.9, thinking }))).toEqual({
      message: 'Anthropic takes a top-p from 0.95 to 1 while the model thinks',
      param: 'top_p',
    });
    expect(encode({ temperature: 1, thinking })).toMatchObject({ temperature: 1 });
    expect(encode({ topP: 0.95, thinking })).toMatchObject({ top_p: 0.95 });
    // Thinking switched off, they are the model's to take.
    expect(encode({ temperature: 0, topK: 1, thinking: { enabled: false } })).toMatchObject({
      temperature: 0,
      top_k: 1,
    });
  });

  it('refuses a seed and non-zero penalties, which Anthropic has none of, thinking or not', () => {
    expect(unsupported(() => encode({ seed: 42 }))).toEqual({
      message: 'Anthropic models do not take a seed',
      param: 'seed',
    });
    expect(unsupported(() => encode({ seed: 0, thinking: { enabled: true, effort: 'low' } }))).toEqual({
      message: 'Anthropic models do not take a seed',
      param: 'seed',
    });
    expect(unsupported(() => encode({ frequencyPenalty: 0.5 }))).toEqual({
      message: 'Anthropic models do not take a frequency penalty',
      param: 'frequency_penalty',
    });
    expect(unsupported(() => encode({ presencePenalty: -0.5 }))).toEqual({
      message: 'Anthropic models do not take a presence penalty',
      param: 'presence_penalty',
    });
  });

  it('drops penalties of 0, which are no penalty', () => {
    expect(JSON.stringify(encode({ frequencyPenalty: 0, presencePenalty: 0 }))).toBe(
      '{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}',
    );
  });

  it('sends one system part as a string and several as text blocks', () => {
    expect(encode({ system: [{ type: 'text', text: 'Be brief.' }] }).system).toBe('Be brief.');
    expect(
      encode({
        system: [
          { type: 'text', text: 'Be brief.' },
          { type: 'text', text: '' },
          { type: 'text', text: 'Answer in French.' },
        ],
      }).system,
    ).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: 'Answer in French.' },
    ]);
    expect(encode({ system: [{ type: 'text', text: '' }] })).not.toHaveProperty('system');
  });

  it('encodes a multi-turn conversation, dropping what Anthropic refuses', () => {
    expect(
      encode({
        messages: [
          userText('What is 2+2?'),
          {
            role: 'assistant',
            content: [
              { type: 'text', text: '' },
              { type: 'text', text: '4.' },
            ],
          },
          { role: 'assistant', content: [{ type: 'thinking', text: 'Unsigned, from another provider' }] },
          userText('And 3+3?'),
        ],
      }).messages,
    ).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'What is 2+2?' }] },
      { role: 'assistant', content: [{ type: 'text', text: '4.' }] },
      { role: 'user', content: [{ type: 'text', text: 'And 3+3?' }] },
    ]);
  });

  it('leaves out text of only whitespace, which Anthropic refuses, wherever it stands', () => {
    const body = encode({
      system: [
        { type: 'text', text: ' \n' },
        { type: 'text', text: 'Be brief.' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Hi' },
            { type: 'text', text: '\n\n' },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: ' ' }] },
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: 'toolu_01A', content: [{ type: 'text', text: '\t' }] },
          ],
        },
      ],
    });
    expect(body.system).toBe('Be brief.');
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01A' }] },
    ]);
  });

  it('sends images as base64, URL or file id', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Compare these' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
              { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.jpg' }, detail: 'low' },
              {
                type: 'image',
                source: { kind: 'file', fileId: 'file_011CNha8iCJcU1wXNR6q4V8w', issuer: 'anthropic' },
              },
            ],
          },
        ],
      }).messages,
    ).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Compare these' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          { type: 'image', source: { type: 'file', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' } },
        ],
      },
    ]);
  });

  it('takes image/jpg, a common misspelling, as image/jpeg', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { kind: 'base64', mediaType: 'image/jpg', data: '/9j/4AAQ' } },
            ],
          },
        ],
      }).messages,
    ).toEqual([
      {
        role: 'user',
        content: [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } }],
      },
    ]);
  });

  it('refuses image types Anthropic cannot read', () => {
    expect(
      unsupported(() =>
        encode({
          messages: [
            userText('Look'),
            userText('again'),
            {
              role: 'user',
              content: [
                { type: 'text', text: 'this' },
                { type: 'image', source: { kind: 'base64', mediaType: 'image/tiff', data: 'SUkq' } },
              ],
            },
          ],
        }),
      ),
    ).toEqual({
      message: 'Anthropic takes images as JPEG, PNG, GIF or WebP',
      param: 'messages[2].content[1].source',
    });
  });

  it('sends documents as base64 PDF, plain text, URL or file id, with the file name as title', () => {
    expect(
      encode({
        messages: [
          {
            role: 'user',
            content: [
              {
                type: 'document',
                source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0xLjQ=' },
                filename: 'report.pdf',
              },
              {
                type: 'document',
                source: {
                  kind: 'base64',
                  mediaType: 'text/plain',
                  data: Buffer.from('Grüße').toString('base64'),
                },
              },
              { type: 'document', source: { kind: 'url', url: 'https://example.com/paper.pdf' } },
              {
                type: 'document',
                source: {
                  kind: 'file',
                  fileId: 'file_abc',
                  issuer: 'anthropic',
                  mediaType: 'application/pdf',
                },
              },
            ],
          },
        ],
      }).messages,
    ).toEqual([
      {
        role: 'user',
        content: [
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0xLjQ=' },
            title: 'report.pdf',
          },
          { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'Grüße' } },
          { type: 'document', source: { type: 'url', url: 'https://example.com/paper.pdf' } },
          { type: 'document', source: { type: 'file', file_id: 'file_abc' } },
        ],
      },
    ]);
    expect(
      unsupported(() =>
        encode({
          messages: [
            {
              role: 'user',
              content: [
                {
                  type: 'document',
                  source: { kind: 'base64', mediaType: 'application/msword', data: 'YSxi' },
                },
              ],
            },
          ],
        }),
      ),
    ).toEqual({
      message: 'Anthropic takes documents as PDF or plain text',
      param: 'messages[0].content[0].source',
    });
  });

  it('defines tools, giving a schema-less tool an object schema', () => {
    expect(encode({ tools: [weather, { name: 'now', parameters: {}, strict: true }] }).tools).toEqual([
      {
        name: 'get_weather',
        description: 'The weather in a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
      {
        name: 'now',
        input_schema: { type: 'object', properties: {}, additionalProperties: false },
        strict: true,
      },
    ]);
  });

  it("holds a structured output's and a strict tool's schemas to what Anthropic's SDK sends", () => {
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: {
        n: { type: 'integer', description: 'How many', minimum: 1 },
        at: { type: 'string', format: 'date-time' },
        site: { type: 'string', format: 'idn-hostname' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 },
        kind: { oneOf: [{ type: 'string', const: 'a' }, { $ref: '#/definitions/box' }] },
      },
      definitions: {
        box: { type: ['object', 'null'], properties: { w: { type: 'number', multipleOf: 2 } } },
      },
    };
    const strict = {
      type: 'object',
      properties: {
        n: { type: 'integer', description: 'How many\n\n{minimum: 1}' },
        at: { type: 'string', format: 'date-time' },
        site: { type: 'string', description: '{format: "idn-hostname"}' },
        tags: { type: 'array', items: { type: 'string' }, minItems: 1, description: '{maxItems: 3}' },
        kind: { anyOf: [{ const: 'a' }, { $ref: '#/definitions/box' }] },
      },
      additionalProperties: false,
      definitions: {
        box: {
          type: ['object', 'null'],
          properties: { w: { type: 'number', description: '{multipleOf: 2}' } },
          additionalProperties: false,
        },
      },
    };
    const body = encode({
      responseFormat: { type: 'json_schema', name: 'reply', schema },
      tools: [
        { ...weather, parameters: schema, strict: true },
        { ...weather, name: 'loose', parameters: schema },
      ],
    });
    expect(body.output_config).toEqual({ format: { type: 'json_schema', schema: strict } });
    const [strictTool, looseTool] = body.tools as Array<{ input_schema: unknown }>;
    expect(strictTool!.input_schema).toEqual(strict);
    // A tool that is not strict takes any schema, and gets the client's as it is.
    expect(looseTool!.input_schema).toEqual(schema);
    // The client's schema is left as it came.
    expect(schema.properties.n).toEqual({ type: 'integer', description: 'How many', minimum: 1 });
  });

  it('refuses a schema that allows any value, at its path', () => {
    const any = { type: 'object', properties: { list: { type: 'array', items: {} } } };
    expect(
      unsupported(() => encode({ responseFormat: { type: 'json_schema', name: 'r', schema: any } })),
    ).toEqual({
      message:
        'Anthropic takes a schema only when each of its values has a type (or anyOf, allOf, enum or const); this one allows any value',
      param: 'response_format.json_schema.schema.properties.list.items',
    });
    expect(
      unsupported(() => encode({ tools: [weather, { ...weather, parameters: any, strict: true }] })),
    ).toMatchObject({
      param: 'tools[1].function.parameters.properties.list.items',
    });
  });

  it('refuses a map, which closed could only be answered empty, at its path', () => {
    const map = {
      type: 'object',
      properties: { scores: { type: 'object', additionalProperties: { type: 'number' } } },
    };
    expect(
      unsupported(() => encode({ responseFormat: { type: 'json_schema', name: 'r', schema: map } })),
    ).toMatchObject({
      message: expect.stringContaining('a map of any keys'),
      param: 'response_format.json_schema.schema.properties.scores.additionalProperties',
    });
    const patterned = { type: 'object', patternProperties: { '^x': { type: 'string' } } };
    expect(
      unsupported(() => encode({ responseFormat: { type: 'json_schema', name: 'r', schema: patterned } })),
    ).toMatchObject({ param: 'response_format.json_schema.schema.patternProperties' });
    for (const others of [true, {}, { type: 'string' }]) {
      const open = { type: 'object', properties: { a: { type: 'string' } }, additionalProperties: others };
      const body = encode({ responseFormat: { type: 'json_schema', name: 'r', schema: open } });
      expect(body.output_config).toMatchObject({ format: { schema: { additionalProperties: false } } });
    }
    const forbidden = { type: 'object', properties: { a: false } };
    expect(
      unsupported(() => encode({ responseFormat: { type: 'json_schema', name: 'r', schema: forbidden } })),
    ).toMatchObject({
      message: expect.stringContaining('false (no value allowed)'),
      param: 'response_format.json_schema.schema.properties.a',
    });
  });

  it('maps every tool choice, with parallel calls switched off on the choice', () => {
    const choice = (fields: Partial<ChatRequest>) => encode({ tools: [weather], ...fields }).tool_choice;
    expect(choice({ toolChoice: { type: 'auto' } })).toEqual({ type: 'auto' });
    expect(choice({ toolChoice: { type: 'none' } })).toEqual({ type: 'none' });
    expect(choice({ toolChoice: { type: 'required' } })).toEqual({ type: 'any' });
    expect(choice({ toolChoice: { type: 'tool', name: 'get_weather' } })).toEqual({
      type: 'tool',
      name: 'get_weather',
    });
    expect(choice({})).toBeUndefined();
    expect(choice({ parallelToolCalls: true })).toBeUndefined();
    expect(choice({ parallelToolCalls: false })).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(choice({ parallelToolCalls: false, toolChoice: { type: 'required' } })).toEqual({
      type: 'any',
      disable_parallel_tool_use: true,
    });
    expect(choice({ parallelToolCalls: false, toolChoice: { type: 'tool', name: 'get_weather' } })).toEqual({
      type: 'tool',
      name: 'get_weather',
      disable_parallel_tool_use: true,
    });
    expect(choice({ parallelToolCalls: false, toolChoice: { type: 'none' } })).toEqual({ type: 'none' });
    // Without tools there is nothing to choose among.
    expect(encode({ toolChoice: { type: 'required' }, parallelToolCalls: false })).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
    });
  });

  it('replays tool calls and puts tool results first in their turn', () => {
    const body = encode({
      tools: [weather],
      messages: [
        userText('Weather in Paris and Oslo?'),
        {
          role: 'assistant',
          content: [
            { type: 'thinking', text: 'Two cities.', signature: 'EqQBCkYIBxgCKkD' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_call', id: 'toolu_01A', name: 'get_weather', arguments: '{"city":"Paris"}' },
            { type: 'tool_call', id: 'functions.get_weather:1', name: 'get_weather', arguments: '' },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Here you go.' },
            { type: 'tool_result', toolCallId: 'toolu_01A', content: [{ type: 'text', text: '18°C' }] },
            {
              type: 'tool_result',
              toolCallId: 'functions.get_weather:1',
              name: 'get_weather',
              content: [
                { type: 'text', text: 'Service down' },
                { type: 'image', source: { kind: 'base64', mediaType: 'image/gif', data: 'R0lGOD' } },
              ],
              isError: true,
            },
            { type: 'tool_result', toolCallId: 'toolu_01C', content: [{ type: 'text', text: '' }] },
          ],
        },
      ],
    });
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Oslo?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Two cities.', signature: 'EqQBCkYIBxgCKkD' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_01A', name: 'get_weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'functions_get_weather_1_26c478f3', name: 'get_weather', input: {} },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01A', content: [{ type: 'text', text: '18°C' }] },
          {
            type: 'tool_result',
            tool_use_id: 'functions_get_weather_1_26c478f3',
            content: [
              { type: 'text', text: 'Service down' },
              { type: 'image', source: { type: 'base64', media_type: 'image/gif', data: 'R0lGOD' } },
            ],
            is_error: true,
          },
          { type: 'tool_result', tool_use_id: 'toolu_01C' },
          { type: 'text', text: 'Here you go.' },
        ],
      },
    ]);
  });

  it('replays redacted thinking as it came', () => {
    expect(
      encode({
        messages: [
          userText('Hi'),
          {
            role: 'assistant',
            content: [
              { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
              { type: 'thinking', text: 'Then this.', signature: 'sig-2' },
              { type: 'text', text: 'Hello!' },
            ],
          },
          userText('Bye'),
        ],
      }).messages,
    ).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      {
        role: 'assistant',
        content: [
          { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' },
          { type: 'thinking', thinking: 'Then this.', signature: 'sig-2' },
          { type: 'text', text: 'Hello!' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'Bye' }] },
    ]);
  });

  it('refuses tool call arguments that are not a JSON object, naming the canonical path', () => {
    const call = (args: string) =>
      unsupported(() =>
        encode({
          messages: [
            userText('a'),
            { role: 'assistant', content: [{ type: 'text', text: 'b' }] },
            userText('c'),
            {
              role: 'assistant',
              content: [
                { type: 'text', text: 'd' },
                { type: 'tool_call', id: 'toolu_1', name: 'get_weather', arguments: args },
              ],
            },
          ],
        }),
      );
    const expected = {
      message: 'Anthropic needs tool call arguments as a JSON object',
      param: 'messages[3].content[1].arguments',
    };
    expect(call('{"city":')).toEqual(expected);
    expect(call('[1,2]')).toEqual(expected);
  });

  it('turns a budget into enabled thinking, with room above it in max_tokens', () => {
    expect(encode({ thinking: { enabled: true, budgetTokens: 5000 } })).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 9096,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      thinking: { type: 'enabled', budget_tokens: 5000 },
    });
    expect(encode({ thinking: { enabled: true, budgetTokens: 100 }, maxTokens: 8000 })).toMatchObject({
      max_tokens: 8000,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
  });

  it('derives a budget from an effort alone, within the request max_tokens', () => {
    const thinking = (fields: Partial<ChatRequest>) => {
      const body = encode(fields);
      return [body.max_tokens, body.thinking];
    };
    expect(thinking({ thinking: { enabled: true, effort: 'minimal' } })).toEqual([
      5120,
      { type: 'enabled', budget_tokens: 1024 },
    ]);
    expect(thinking({ thinking: { enabled: true, effort: 'low' } })).toEqual([
      6144,
      { type: 'enabled', budget_tokens: 2048 },
    ]);
    expect(thinking({ thinking: { enabled: true, effort: 'medium' } })).toEqual([
      12288,
      { type: 'enabled', budget_tokens: 8192 },
    ]);
    expect(thinking({ thinking: { enabled: true } })).toEqual([
      12288,
      { type: 'enabled', budget_tokens: 8192 },
    ]);
    expect(thinking({ thinking: { enabled: true, effort: 'high' } })).toEqual([
      20480,
      { type: 'enabled', budget_tokens: 16384 },
    ]);
    expect(thinking({ thinking: { enabled: true, effort: 'xhigh' } })).toEqual([
      28672,
      { type: 'enabled', budget_tokens: 24576 },
    ]);
    expect(thinking({ thinking: { enabled: true, effort: 'max' } })).toEqual([
      36095,
      { type: 'enabled', budget_tokens: 31999 },
    ]);
    expect(thinking({ thinking: { enabled: true, effort: 'high' }, maxTokens: 2000 })).toEqual([
      2000,
      { type: 'enabled', budget_tokens: 1999 },
    ]);
    expect(
      unsupported(() => encode({ thinking: { enabled: true, effort: 'low' }, maxTokens: 1024 })),
    ).toEqual({
      message: 'Anthropic needs an output limit above 1024 tokens for thinking, its smallest budget',
      param: 'max_tokens',
    });
  });

  it('switches thinking off explicitly, keeping the sampling settings', () => {
    const off = { max_tokens: 4096, thinking: { type: 'disabled' }, temperature: 0.3 };
    expect(encode({ thinking: { enabled: false }, temperature: 0.3 })).toMatchObject(off);
    expect(encode({ thinking: { enabled: true, effort: 'none' }, temperature: 0.3 })).toMatchObject(off);
  });

  it('refuses a forced tool call while thinking', () => {
    expect(
      unsupported(() =>
        encode({
          tools: [weather],
          toolChoice: { type: 'required' },
          thinking: { enabled: true, effort: 'low' },
        }),
      ),
    ).toEqual({ message: 'Anthropic cannot force a tool call while the model thinks', param: 'tool_choice' });
    expect(
      encode({ tools: [weather], toolChoice: { type: 'auto' }, thinking: { enabled: true, effort: 'low' } })
        .tool_choice,
    ).toEqual({ type: 'auto' });
  });

  it('switches thinking off to continue a tool loop whose turn does not start with thinking', () => {
    const loop = (assistant: ChatRequest['messages'][number]['content']): Partial<ChatRequest> => ({
      tools: [weather],
      toolChoice: { type: 'required' },
      thinking: { enabled: true, effort: 'low' },
      temperature: 0.3,
      messages: [
        userText('Weather in Paris?'),
        { role: 'assistant', content: assistant } as ChatRequest['messages'][number],
        {
          role: 'user',
          content: [
            { type: 'tool_result', toolCallId: 'toolu_01A', content: [{ type: 'text', text: '18°C' }] },
          ],
        },
      ],
    });
    const call = {
      type: 'tool_call',
      id: 'toolu_01A',
      name: 'get_weather',
      arguments: '{"city":"Paris"}',
    } as const;
    // Anthropic refuses thinking here: the turn must start with the thinking that began it.
    expect(encode(loop([{ type: 'text', text: 'Checking.' }, call]))).toMatchObject({
      max_tokens: 4096,
      thinking: { type: 'disabled' },
      tool_choice: { type: 'any' },
      temperature: 0.3,
    });
    // Unsigned thinking cannot be replayed, so it does not count.
    expect(encode(loop([{ type: 'thinking', text: 'Paris.' }, call])).thinking).toEqual({ type: 'disabled' });
    // Nor can thinking another format signed or encrypted: Anthropic refuses its signature.
    for (const foreign of [
      { type: 'thinking', text: 'Paris.', signature: 'CiQBgemini', signedBy: 'gemini' },
      { type: 'redacted_thinking', data: 'gAAAAABopenai', signedBy: 'openai' },
    ] as const) {
      const body = encode(loop([foreign, call]));
      expect(body.thinking).toEqual({ type: 'disabled' });
      expect(JSON.stringify(body.messages)).not.toMatch(/gemini|openai/);
    }
    // With the signed thinking in place, thinking stays on.
    const signedLoop = loop([{ type: 'thinking', text: 'Paris.', signature: 'EqQBCkYIBxgCKkD' }, call]);
    // Its temperature is refused then, as on any turn the model thinks.
    expect(unsupported(() => encode({ ...signedLoop, toolChoice: { type: 'auto' } }))).toMatchObject({
      param: 'temperature',
    });
    const signed = encode({ ...signedLoop, toolChoice: { type: 'auto' }, temperature: 1 });
    expect(signed).toMatchObject({ max_tokens: 6144, thinking: { type: 'enabled', budget_tokens: 2048 } });
    expect(
      encode({
        ...loop([{ type: 'redacted_thinking', data: 'EmwKAhgB' }, call]),
        toolChoice: undefined,
        temperature: 1,
      }).thinking,
    ).toEqual({
      type: 'enabled',
      budget_tokens: 2048,
    });
    // The turn began with signed thinking two tool calls ago: later answers in it need none.
    const longer = loop([{ type: 'thinking', text: 'Paris.', signature: 'EqQBCkYIBxgCKkD' }, call]);
    const second = { ...call, id: 'toolu_01B' };
    const results = (id: string) => ({
      role: 'user' as const,
      content: [
        { type: 'tool_result' as const, toolCallId: id, content: [{ type: 'text' as const, text: 'ok' }] },
      ],
    });
    expect(
      encode({
        ...longer,
        toolChoice: undefined,
        temperature: 1,
        messages: [...longer.messages!, { role: 'assistant', content: [second] }, results('toolu_01B')],
      }).thinking,
    ).toEqual({ type: 'enabled', budget_tokens: 2048 });
    // A turn after the loop ended (a user's words last) thinks as asked.
    expect(
      encode({
        ...loop([call]),
        toolChoice: undefined,
        temperature: 1,
        messages: [
          ...loop([call]).messages!,
          { role: 'assistant', content: [{ type: 'text', text: '18°C.' }] },
          userText('Thanks'),
        ],
      }).thinking,
    ).toEqual({ type: 'enabled', budget_tokens: 2048 });
  });

  it('maps JSON modes: a schema to output_config, plain JSON to a system instruction', () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string' } },
      additionalProperties: false,
    };
    expect(encode({ responseFormat: { type: 'json_schema', name: 'reply', schema, strict: true } })).toEqual({
      model: 'claude-sonnet-4-5',
      max_tokens: 4096,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      output_config: { format: { type: 'json_schema', schema } },
    });
    expect(JSON_OBJECT_INSTRUCTION).toBe(
      'Respond with a single JSON object and nothing else: no prose and no Markdown code fences.',
    );
    expect(encode({ responseFormat: { type: 'json_object' } }).system).toBe(JSON_OBJECT_INSTRUCTION);
    expect(
      encode({ system: [{ type: 'text', text: 'Be brief.' }], responseFormat: { type: 'json_object' } })
        .system,
    ).toEqual([
      { type: 'text', text: 'Be brief.' },
      { type: 'text', text: JSON_OBJECT_INSTRUCTION },
    ]);
    expect(encode({ responseFormat: { type: 'json_schema', name: 'reply' } }).system).toBe(
      JSON_OBJECT_INSTRUCTION,
    );
    expect(encode({ responseFormat: { type: 'text' } })).toEqual(encode({}));
  });

  it('leaves generation settings out of a count_tokens body', () => {
    const full = request({
      system: [{ type: 'text', text: 'Be brief.' }],
      tools: [weather],
      toolChoice: { type: 'auto' },
      thinking: { enabled: true, budgetTokens: 2000 },
      maxTokens: 5000,
      stop: ['END'],
      user: 'u1',
      stream: true,
    });
    expect(encodeAnthropicRequest(full, { countTokens: true })).toEqual({
      model: 'claude-sonnet-4-5',
      system: 'Be brief.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      tools: [
        {
          name: 'get_weather',
          description: 'The weather in a city',
          input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
        },
      ],
      tool_choice: { type: 'auto' },
      thinking: { type: 'enabled', budget_tokens: 2000 },
    });
  });
});

const message = (fields: Record<string, unknown>) => ({
  id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hello!' }],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: { input_tokens: 12, output_tokens: 6 },
  ...fields,
});

describe('Anthropic response decoding', () => {
  it('decodes a text answer', () => {
    expect(decodeAnthropicResponse(message({}))).toEqual({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      model: 'claude-sonnet-4-5-20250929',
      content: [{ type: 'text', text: 'Hello!' }],
      stopReason: 'end_turn',
      usage: { inputTokens: 12, outputTokens: 6 },
    });
  });

  it('decodes thinking, redacted thinking and tool calls, skipping server tool blocks', () => {
    expect(
      decodeAnthropicResponse(
        message({
          content: [
            { type: 'thinking', thinking: 'Paris, then.', signature: 'EqQBCkYIBxgC' },
            { type: 'redacted_thinking', data: 'EmwKAhgB' },
            { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'x' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
            { type: 'text', text: 'Let me check.' },
            {
              type: 'tool_use',
              id: 'toolu_01A09q90qw90lq917835lq9',
              name: 'get_weather',
              input: { city: 'Paris' },
            },
            { type: 'tool_use', name: 'now', input: {} },
          ],
          stop_reason: 'tool_use',
        }),
      ),
    ).toEqual({
      id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
      model: 'claude-sonnet-4-5-20250929',
      content: [
        { type: 'thinking', text: 'Paris, then.', signature: 'EqQBCkYIBxgC', signedBy: 'anthropic' },
        { type: 'redacted_thinking', data: 'EmwKAhgB', signedBy: 'anthropic' },
        { type: 'text', text: 'Let me check.' },
        {
          type: 'tool_call',
          id: 'toolu_01A09q90qw90lq917835lq9',
          name: 'get_weather',
          arguments: '{"city":"Paris"}',
        },
        { type: 'tool_call', id: expect.stringMatching(GENERATED), name: 'now', arguments: '{}' },
      ],
      stopReason: 'tool_use',
      usage: { inputTokens: 12, outputTokens: 6 },
    });
  });

  it('counts cache reads and writes as input, and thinking as reasoning', () => {
    const usage = {
      input_tokens: 50,
      cache_read_input_tokens: 1000,
      cache_creation_input_tokens: 200,
      cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 0 },
      output_tokens: 300,
      output_tokens_details: { thinking_tokens: 120 },
      service_tier: 'standard',
    };
    expect(decodeAnthropicResponse(message({ usage })).usage).toEqual({
      inputTokens: 1250,
      outputTokens: 300,
      cachedTokens: 1000,
      cacheCreationTokens: 200,
      reasoningTokens: 120,
    });
    expect(anthropicUsage({ input_tokens: 5, cache_read_input_tokens: null, output_tokens: 1 })).toEqual({
      inputTokens: 5,
      outputTokens: 1,
    });
    expect(anthropicUsage(undefined)).toEqual({ inputTokens: 0, outputTokens: 0, unreported: true });
    expect(anthropicUsage({ service_tier: 'standard' })).toEqual({
      inputTokens: 0,
      outputTokens: 0,
      unreported: true,
    });
  });

  it('maps every stop reason', () => {
    const stop = (reason: unknown, sequence: unknown = null) => {
      const { stopReason, stopSequence } = decodeAnthropicResponse(
        message({ stop_reason: reason, stop_sequence: sequence }),
      );
      return [stopReason, stopSequence];
    };
    expect(stop('end_turn')).toEqual(['end_turn', undefined]);
    expect(stop('max_tokens')).toEqual(['max_tokens', undefined]);
    expect(stop('stop_sequence', 'END')).toEqual(['stop_sequence', 'END']);
    expect(stop('tool_use')).toEqual(['tool_use', undefined]);
    expect(stop('pause_turn')).toEqual(['pause_turn', undefined]);
    expect(stop('refusal')).toEqual(['refusal', undefined]);
    expect(stop('model_context_window_exceeded')).toEqual(['max_tokens', undefined]);
    expect(stop(null)).toEqual(['end_turn', undefined]);
    expect(stop('something_new')).toEqual(['end_turn', undefined]);
  });

  it('refuses answers that are not Anthropic answers', () => {
    expect(() => decodeAnthropicResponse('nope')).toThrow('an Anthropic answer is a JSON object');
  });

  it('reads usage from a message and from stream events', () => {
    expect(
      readAnthropicUsage(
        message({ usage: { input_tokens: 10, cache_read_input_tokens: 90, output_tokens: 4 } }),
      ),
    ).toEqual({ inputTokens: 100, outputTokens: 4, cachedTokens: 90 });
    expect(
      readAnthropicUsage({
        type: 'message_start',
        message: message({
          content: [],
          usage: {
            input_tokens: 25,
            cache_creation_input_tokens: 5,
            cache_creation: { ephemeral_5m_input_tokens: 3, ephemeral_1h_input_tokens: 2 },
            output_tokens: 1,
          },
        }),
      }),
    ).toEqual({ inputTokens: 30, outputTokens: 1, cacheCreationTokens: 5, cacheCreation1hTokens: 2 });
    expect(
      readAnthropicUsage({
        type: 'message_delta',
        delta: { stop_reason: 'end_turn' },
        usage: { output_tokens: 15 },
      }),
    ).toEqual({ inputTokens: 0, outputTokens: 15 });
    expect(readAnthropicUsage({ type: 'ping' })).toBeUndefined();
    expect(readAnthropicUsage({ type: 'message_start', message: {} })).toBeUndefined();
    expect(readAnthropicUsage(null)).toBeUndefined();
  });
});

const bytes = (text: string) => new TextEncoder().encode(text);
const sse = (...events: Array<Record<string, unknown>>) =>
  events.map((event) => `event: ${String(event.type)}\ndata: ${JSON.stringify(event)}\n\n`).join('');

/** All events of one stream, its bytes pushed `size` at a time. */
function decode(stream: string, size = stream.length): StreamEvent[] {
  const decoder = new AnthropicStreamDecoder();
  const raw = bytes(stream);
  const events: StreamEvent[] = [];
  for (let i = 0; i < raw.length; i += size) events.push(...decoder.push(raw.subarray(i, i + size)));
  events.push(...decoder.end());
  return events;
}

const messageStart = (usage: Record<string, unknown>) => ({
  type: 'message_start',
  message: {
    id: 'msg_stream_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage,
  },
});
const blockStart = (index: number, block: Record<string, unknown>) => ({
  type: 'content_block_start',
  index,
  content_block: block,
});
const blockDelta = (index: number, delta: Record<string, unknown>) => ({
  type: 'content_block_delta',
  index,
  delta,
});
const blockStop = (index: number) => ({ type: 'content_block_stop', index });
const messageDelta = (
  stopReason: string,
  usage: Record<string, unknown>,
  stopSequence: string | null = null,
) => ({
  type: 'message_delta',
  delta: { stop_reason: stopReason, stop_sequence: stopSequence },
  usage,
});
const messageStop = { type: 'message_stop' };

const textStream = sse(
  messageStart({ input_tokens: 25, output_tokens: 1 }),
  blockStart(0, { type: 'text', text: '' }),
  { type: 'ping' },
  blockDelta(0, { type: 'text_delta', text: 'Hel' }),
  blockDelta(0, { type: 'text_delta', text: 'lo, wörld' }),
  blockDelta(0, { type: 'text_delta', text: '!' }),
  blockStop(0),
  messageDelta('end_turn', { output_tokens: 15 }),
  messageStop,
);
const textEvents: StreamEvent[] = [
  {
    type: 'start',
    id: 'msg_stream_1',
    model: 'claude-sonnet-4-5-20250929',
    usage: { inputTokens: 25, outputTokens: 1 },
  },
  { type: 'block_start', index: 0, block: { type: 'text' } },
  { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
  { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo, wörld' } },
  { type: 'block_delta', index: 0, delta: { type: 'text', text: '!' } },
  { type: 'block_stop', index: 0 },
  { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 25, outputTokens: 15 } },
];

describe('Anthropic stream decoding', () => {
  it('decodes text deltas, however the bytes are cut (mid-event and mid-character included)', () => {
    for (let size = 1; size <= 64; size++) expect(decode(textStream, size)).toEqual(textEvents);
    expect(decode(textStream)).toEqual(textEvents);
    expect(decode(textStream.replaceAll('\n', '\r\n'), 5)).toEqual(textEvents);
  });

  it('emits events as soon as a chunk completes them', () => {
    const decoder = new AnthropicStreamDecoder();
    const cut = textStream.indexOf('"text_delta"');
    expect(decoder.push(bytes(textStream.slice(0, cut)))).toEqual(textEvents.slice(0, 2));
    expect(decoder.push(bytes(textStream.slice(cut)))).toEqual(textEvents.slice(2));
    expect(decoder.end()).toEqual([]);
  });

  it('decodes a tool call whose input comes in pieces', () => {
    expect(
      decode(
        sse(
          messageStart({ input_tokens: 40, output_tokens: 2 }),
          blockStart(0, { type: 'text', text: '' }),
          blockDelta(0, { type: 'text_delta', text: 'Checking.' }),
          blockStop(0),
          blockStart(1, {
            type: 'tool_use',
            id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6',
            name: 'get_weather',
            input: {},
          }),
          blockDelta(1, { type: 'input_json_delta', partial_json: '' }),
          blockDelta(1, { type: 'input_json_delta', partial_json: '{"city": "Pa' }),
          blockDelta(1, { type: 'input_json_delta', partial_json: 'ris"}' }),
          blockStop(1),
          blockStart(2, { type: 'tool_use', id: 'toolu_02', name: 'now', input: {} }),
          blockStop(2),
          messageDelta('tool_use', { output_tokens: 60 }),
          messageStop,
        ),
        17,
      ),
    ).toEqual([
      {
        type: 'start',
        id: 'msg_stream_1',
        model: 'claude-sonnet-4-5-20250929',
        usage: { inputTokens: 40, outputTokens: 2 },
      },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Checking.' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'block_start',
        index: 1,
        block: { type: 'tool_call', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather' },
      },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"city": "Pa' } },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: 'ris"}' } },
      { type: 'block_stop', index: 1 },
      { type: 'block_start', index: 2, block: { type: 'tool_call', id: 'toolu_02', name: 'now' } },
      { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 2 },
      { type: 'finish', stopReason: 'tool_use', usage: { inputTokens: 40, outputTokens: 60 } },
    ]);
  });

  it('decodes thinking with its signature and redacted thinking', () => {
    expect(
      decode(
        sse(
          messageStart({ input_tokens: 10, output_tokens: 1 }),
          blockStart(0, { type: 'thinking', thinking: '', signature: '' }),
          blockDelta(0, { type: 'thinking_delta', thinking: 'Let me ' }),
          blockDelta(0, { type: 'thinking_delta', thinking: 'think.' }),
          blockDelta(0, { type: 'signature_delta', signature: 'EqQBCkYIBxgCKkD' }),
          blockStop(0),
          blockStart(1, { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix' }),
          blockStop(1),
          blockStart(2, { type: 'text', text: '' }),
          blockDelta(2, { type: 'text_delta', text: 'Done.' }),
          blockStop(2),
          messageDelta('end_turn', { output_tokens: 80, output_tokens_details: { thinking_tokens: 70 } }),
          messageStop,
        ),
      ),
    ).toEqual([
      {
        type: 'start',
        id: 'msg_stream_1',
        model: 'claude-sonnet-4-5-20250929',
        usage: { inputTokens: 10, outputTokens: 1 },
      },
      { type: 'block_start', index: 0, block: { type: 'thinking', signedBy: 'anthropic' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Let me ' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'think.' } },
      { type: 'block_delta', index: 0, delta: { type: 'signature', signature: 'EqQBCkYIBxgCKkD' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'block_start',
        index: 1,
        block: { type: 'redacted_thinking', data: 'EmwKAhgBEgy3va3pzix', signedBy: 'anthropic' },
      },
      { type: 'block_stop', index: 1 },
      { type: 'block_start', index: 2, block: { type: 'text' } },
      { type: 'block_delta', index: 2, delta: { type: 'text', text: 'Done.' } },
      { type: 'block_stop', index: 2 },
      {
        type: 'finish',
        stopReason: 'end_turn',
        usage: { inputTokens: 10, outputTokens: 80, reasoningTokens: 70 },
      },
    ]);
  });

  it('skips server tool blocks and keeps canonical indices without gaps', () => {
    const events = decode(
      sse(
        messageStart({ input_tokens: 10, output_tokens: 1 }),
        blockStart(0, { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} }),
        blockDelta(0, { type: 'input_json_delta', partial_json: '{"query":"x"}' }),
        blockStop(0),
        blockStart(1, { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] }),
        blockStop(1),
        blockStart(2, { type: 'text', text: '' }),
        blockDelta(2, { type: 'citations_delta', citation: { type: 'web_search_result_location' } }),
        blockDelta(2, { type: 'text_delta', text: 'Found it.' }),
        blockStop(2),
        messageDelta('stop_sequence', { output_tokens: 9 }, 'END'),
        messageStop,
      ),
    );
    expect(events.slice(1)).toEqual([
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Found it.' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'finish',
        stopReason: 'stop_sequence',
        stopSequence: 'END',
        usage: { inputTokens: 10, outputTokens: 9 },
      },
    ]);
  });

  it('merges usage: message_delta counters replace message_start ones, null ones do not', () => {
    const events = decode(
      sse(
        messageStart({
          input_tokens: 5,
          cache_read_input_tokens: 1000,
          cache_creation_input_tokens: 0,
          output_tokens: 1,
        }),
        blockStart(0, { type: 'text', text: '' }),
        blockDelta(0, { type: 'text_delta', text: 'Hi' }),
        blockStop(0),
        messageDelta('max_tokens', {
          input_tokens: 7,
          cache_read_input_tokens: null,
          cache_creation_input_tokens: 30,
          output_tokens: 42,
        }),
        messageStop,
      ),
    );
    expect(events[0]).toEqual({
      type: 'start',
      id: 'msg_stream_1',
      model: 'claude-sonnet-4-5-20250929',
      usage: { inputTokens: 1005, outputTokens: 1, cachedTokens: 1000 },
    });
    expect(events.at(-1)).toEqual({
      type: 'finish',
      stopReason: 'max_tokens',
      usage: { inputTokens: 1037, outputTokens: 42, cachedTokens: 1000, cacheCreationTokens: 30 },
    });
  });

  it('fails with our own words and a status on an error event', () => {
    const stream = (type: string) =>
      sse(messageStart({ input_tokens: 1, output_tokens: 1 }), {
        type: 'error',
        error: { type, message: 'Overloaded: secret upstream detail' },
      });
    const expected = (status: number) => ({
      reason: 'provider_error',
      message: 'Anthropic reported an error during the stream',
      status,
    });
    expect(failure(() => decode(stream('overloaded_error')))).toEqual(expected(529));
    expect(failure(() => decode(stream('rate_limit_error')))).toEqual(expected(429));
    expect(failure(() => decode(stream('api_error')))).toEqual(expected(500));
    expect(failure(() => decode(stream('invalid_request_error')))).toEqual(expected(400));
    expect(failure(() => decode(stream('authentication_error')))).toEqual(expected(401));
    expect(failure(() => decode(stream('permission_error')))).toEqual(expected(403));
    expect(failure(() => decode(stream('not_found_error')))).toEqual(expected(404));
    expect(failure(() => decode(stream('request_too_large')))).toEqual(expected(413));
    expect(failure(() => decode(stream('timeout_error')))).toEqual(expected(504));
    expect(failure(() => decode(stream('brand_new_error')))).toEqual(expected(500));
  });

  it('once the stream has begun, lets the events before an error out first and fails on the next call', () => {
    const error = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (secret)' } };
    const failed = {
      reason: 'provider_error',
      message: 'Anthropic reported an error during the stream',
      status: 529,
    };
    const decoder = new AnthropicStreamDecoder();
    expect(
      decoder.push(bytes(sse(messageStart({ input_tokens: 25, output_tokens: 1 }), { type: 'ping' }))),
    ).toEqual([textEvents[0]]);
    expect(
      decoder.push(
        bytes(
          sse(
            blockStart(0, { type: 'text', text: '' }),
            blockDelta(0, { type: 'text_delta', text: 'Hel' }),
            error,
            blockDelta(0, { type: 'text_delta', text: 'late' }),
          ),
        ),
      ),
    ).toEqual([
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
    ]);
    expect(failure(() => decoder.push(bytes(sse(blockStop(0), messageStop))))).toEqual(failed);
    expect(failure(() => decoder.end())).toEqual(failed);

    // A broken event is held back the same way; an error with nothing before it in its chunk is not.
    const broken = new AnthropicStreamDecoder();
    expect(broken.push(bytes(sse(messageStart({ input_tokens: 25, output_tokens: 1 }))))).toEqual([
      textEvents[0],
    ]);
    expect(
      broken.push(bytes(`${sse(blockStart(0, { type: 'text', text: '' }))}event: ping\ndata: {"ty\n\n`)),
    ).toEqual([{ type: 'block_start', index: 0, block: { type: 'text' } }]);
    expect(failure(() => broken.end())).toEqual({
      reason: 'cut',
      message: 'The Anthropic stream carried an event that is not JSON',
      status: undefined,
    });
    const alone = new AnthropicStreamDecoder();
    expect(alone.push(bytes(sse(messageStart({ input_tokens: 25, output_tokens: 1 }))))).toHaveLength(1);
    expect(failure(() => alone.push(bytes(sse({ type: 'ping' }, error))))).toEqual(failed);
  });

  it('fails at once on an error in the first chunk, events before it or not (the request can still fall back)', () => {
    const decoder = new AnthropicStreamDecoder();
    const stream = sse(messageStart({ input_tokens: 25, output_tokens: 1 }), {
      type: 'error',
      error: { type: 'api_error', message: 'Internal server error' },
    });
    expect(failure(() => decoder.push(bytes(stream)))).toEqual({
      reason: 'provider_error',
      message: 'Anthropic reported an error during the stream',
      status: 500,
    });
  });

  it('fails as cut when the stream breaks off mid-event', () => {
    const cut = textStream.slice(0, textStream.indexOf('lo, wörld'));
    expect(failure(() => decode(cut, 9))).toEqual({
      reason: 'cut',
      message: 'The Anthropic stream broke off mid-event',
      status: undefined,
    });
  });

  it('fails as incomplete when message_stop never came', () => {
    const withoutStop = textStream.slice(0, textStream.indexOf('event: message_stop'));
    expect(failure(() => decode(withoutStop))).toEqual({
      reason: 'incomplete',
      message: 'The Anthropic stream ended before the answer finished',
      status: undefined,
    });
    expect(failure(() => decode('')).reason).toBe('incomplete');
  });

  it('fails as cut on an event that is not JSON', () => {
    expect(failure(() => decode('event: message_start\ndata: {"type":\n\n'))).toEqual({
      reason: 'cut',
      message: 'The Anthropic stream carried an event that is not JSON',
      status: undefined,
    });
  });
});

describe('Anthropic adapter', () => {
  const config = configSchema.parse({
    providers: [
      {
        id: 'anthropic',
        type: 'anthropic',
        baseUrl: 'https://api.anthropic.com/v1',
        keys: { env: 'ANTHROPIC_API_KEY' },
        headers: { 'x-team': 'search' },
        allowedBetas: ['web-fetch-2025-09-10'],
      },
    ],
  }).providers[0]!;
  const adapter = createAnthropicAdapter(config);
  const key = new SecretString('sk-ant-test');
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'accept-encoding': 'identity',
    'x-team': 'search',
    'anthropic-version': '2023-06-01',
    'x-api-key': 'sk-ant-test',
  };
  const bareBody =
    '{"model":"claude-sonnet-4-5","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}';

  it('describes itself', () => {
    expect([adapter.type, adapter.format, adapter.requiresKey]).toEqual(['anthropic', 'anthropic', true]);
    expect(
      adapter.readUsage({ usage: { input_tokens: 4, cache_read_input_tokens: 6, output_tokens: 2 } }),
    ).toEqual({
      inputTokens: 10,
      outputTokens: 2,
      cachedTokens: 6,
    });
  });

  it('passes native bodies through with the routed model', () => {
    const body = { model: 'claude-alias', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] };
    expect(adapter.buildCall('chat', 'claude-sonnet-4-5', body, key)).toEqual({
      path: '/v1/messages',
      headers,
      body: '{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}',
    });
    expect(adapter.buildCall('count_tokens', 'claude-sonnet-4-5', { model: 'x', messages: [] }, key)).toEqual(
      {
        path: '/v1/messages/count_tokens',
        headers,
        body: '{"model":"claude-sonnet-4-5","messages":[]}',
      },
    );
    expect(unsupported(() => adapter.buildCall('embeddings', 'claude-sonnet-4-5', {}, key))).toEqual({
      message: 'Anthropic does not offer embeddings',
      param: 'model',
    });
  });

  it('keeps only allowlisted beta flags, once each', () => {
    const beta = (betas: readonly string[] | undefined) =>
      adapter.buildCall('chat', 'm', {}, key, betas === undefined ? undefined : { betas }).headers[
        'anthropic-beta'
      ];
    expect(
      beta([
        'interleaved-thinking-2025-05-14',
        'oauth-2025-04-20',
        'files-api-2025-04-14',
        'web-fetch-2025-09-10',
        'interleaved-thinking-2025-05-14',
        'context-1m-2025-08-07',
      ]),
    ).toBe('interleaved-thinking-2025-05-14,web-fetch-2025-09-10,context-1m-2025-08-07');
    expect(
      beta([
        'claude-code-20250219',
        'fine-grained-tool-streaming-2025-05-14',
        'prompt-caching-2024-07-31',
        'token-efficient-tools-2025-02-19',
        'output-128k-2025-02-19',
        'extended-cache-ttl-2025-04-11',
        'context-management-2025-06-27',
        'structured-outputs-2025-11-13',
        'effort-2025-11-24',
      ]),
    ).toBe(
      'claude-code-20250219,fine-grained-tool-streaming-2025-05-14,prompt-caching-2024-07-31,' +
        'token-efficient-tools-2025-02-19,output-128k-2025-02-19,extended-cache-ttl-2025-04-11,' +
        'context-management-2025-06-27,structured-outputs-2025-11-13,effort-2025-11-24',
    );
    expect(beta(['oauth-2025-04-20'])).toBeUndefined();
    expect(beta([])).toBeUndefined();
    expect(beta(undefined)).toBeUndefined();
    const plain = createAnthropicAdapter({ ...config, allowedBetas: [] });
    expect(plain.buildCall('chat', 'm', {}, key, { betas: ['web-fetch-2025-09-10'] }).headers).toEqual(
      headers,
    );
  });

  it('builds chat calls from canonical requests', () => {
    expect(adapter.buildChatCall(request({}), key, { betas: ['context-1m-2025-08-07'] })).toEqual({
      path: '/v1/messages',
      headers: { ...headers, 'anthropic-beta': 'context-1m-2025-08-07' },
      body: bareBody,
    });
    expect(adapter.chat.encodeRequest(request({}))).toEqual({ path: '/v1/messages', body: bareBody });
    expect(adapter.buildChatCall(request({}), undefined).headers).not.toHaveProperty('x-api-key');
  });

  it('builds a count_tokens call and reads its answer', () => {
    expect(adapter.buildCountTokensCall?.(request({ maxTokens: 10, stream: true }), key)).toEqual({
      path: '/v1/messages/count_tokens',
      headers,
      body: '{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}',
    });
    expect(adapter.readTokenCount?.({ input_tokens: 2095 })).toBe(2095);
    expect(adapter.readTokenCount?.({})).toBeUndefined();
    expect(adapter.readTokenCount?.(null)).toBeUndefined();
  });

  it('decodes through its codec', () => {
    expect(adapter.chat.decodeResponse(message({})).content).toEqual([{ type: 'text', text: 'Hello!' }]);
    const decoder = adapter.chat.streamDecoder();
    expect(decoder).toBeInstanceOf(AnthropicStreamDecoder);
    expect(decoder.push(bytes(textStream))).toEqual(textEvents);
    expect(decoder.end()).toEqual([]);
  });
});
