import { describe, expect, it } from 'vitest';
import type {
  ChatRequest,
  ChatResponse,
  ReasoningEffort,
  StreamEvent,
} from '../../../src/canonical/model.js';
import { configSchema } from '../../../src/config/index.js';
import { SecretString } from '../../../src/keys/index.js';
import {
  decodeGeminiResponse,
  encodeGeminiRequest,
  geminiUsage,
  readGeminiUsage,
} from '../../../src/providers/gemini/codec.js';
import { createGeminiAdapter } from '../../../src/providers/gemini/index.js';
import { GeminiStreamDecoder } from '../../../src/providers/gemini/stream.js';
import { streamFailure as failure, refusal as unsupported } from './thrown.js';

/** A Gemini thought signature with the characters base64url changes (`+`, `/`, `=`). */
const SIG = 'CiUB+/8fAAE=';
const SIG_URL = 'CiUB-_8fAAE';
const GENERATED = /^call_[0-9a-f]{24}$/;

const request = (fields: Partial<ChatRequest>): ChatRequest => ({
  model: 'gemini-2.5-flash',
  system: [],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  stream: false,
  ...fields,
});

const userText = (text: string) => ({ role: 'user' as const, content: [{ type: 'text' as const, text }] });

describe('Gemini request encoding', () => {
  it('puts the system prompt in systemInstruction and the text in a user turn, in a fixed key order', () => {
    const body = encodeGeminiRequest(
      request({
        system: [
          { type: 'text', text: 'Be brief.' },
          { type: 'text', text: 'Answer in French.' },
        ],
        maxTokens: 100,
        user: 'end-user-7',
        parallelToolCalls: false,
      }),
    );
    expect(JSON.stringify(body)).toBe(
      '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],' +
        '"systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Answer in French."}]},' +
        '"generationConfig":{"maxOutputTokens":100}}',
    );
  });

  it('folds instructions from inside the conversation into systemInstruction, after the system prompt', () => {
    const body = encodeGeminiRequest(
      request({
        system: [{ type: 'text', text: 'Be brief.' }],
        messages: [
          userText('Hi'),
          { role: 'system', content: [{ type: 'text', text: 'Now be terse.' }] },
          userText('Bye'),
        ],
      }),
    );
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'Be brief.' }, { text: 'Now be terse.' }] });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'user', parts: [{ text: 'Bye' }] },
    ]);
  });

  it('sends no empty objects for a bare request', () => {
    expect(encodeGeminiRequest(request({}))).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
    });
  });

  it('maps turns to user and model, dropping what Gemini cannot take back', () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('What is 2+2?'),
          {
            role: 'assistant',
            content: [
              { type: 'thinking', text: 'Unsigned reasoning' },
              { type: 'text', text: '' },
              { type: 'text', text: '4' },
            ],
          },
          { role: 'assistant', content: [{ type: 'redacted_thinking', data: 'opaque' }] },
          userText('And 3+3?'),
        ],
      }),
    );
    expect(body).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'What is 2+2?' }] },
        { role: 'model', parts: [{ text: '4' }] },
        { role: 'user', parts: [{ text: 'And 3+3?' }] },
      ],
    });
  });

  it('sends a signed thinking part back as a thought with its signature', () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('Q'),
          {
            role: 'assistant',
            content: [
              { type: 'thinking', text: 'Reasoning', signature: SIG },
              { type: 'text', text: 'A' },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Q' }] },
      { role: 'model', parts: [{ text: 'Reasoning', thought: true, thoughtSignature: SIG }, { text: 'A' }] },
    ]);
  });

  it("sends back only its own thoughts' signatures, dropping thinking another format signed", () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('Q'),
          {
            role: 'assistant',
            content: [
              { type: 'thinking', text: 'Claude reasoned', signature: 'EqQBclaude', signedBy: 'anthropic' },
              { type: 'thinking', text: 'OpenAI reasoned', signature: 'gAAAAABopenai', signedBy: 'openai' },
              { type: 'thinking', text: 'Gemini reasoned', signature: SIG, signedBy: 'gemini' },
              { type: 'text', text: 'A' },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Q' }] },
      {
        role: 'model',
        parts: [{ text: 'Gemini reasoned', thought: true, thoughtSignature: SIG }, { text: 'A' }],
      },
    ]);
  });

  it('sends base64 media inline and file references as fileData', () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Compare these' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
              {
                type: 'document',
                source: { kind: 'base64', mediaType: 'application/pdf', data: 'JVBERi0=' },
              },
              {
                type: 'image',
                source: {
                  kind: 'file',
                  fileId: 'https://generativelanguage.googleapis.com/v1beta/files/abc',
                  issuer: 'gemini',
                  mediaType: 'image/jpeg',
                },
              },
              {
                type: 'document',
                source: { kind: 'url', url: 'https://generativelanguage.googleapis.com/v1beta/files/def' },
              },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      {
        role: 'user',
        parts: [
          { text: 'Compare these' },
          { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
          { inlineData: { mimeType: 'application/pdf', data: 'JVBERi0=' } },
          {
            fileData: {
              fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/abc',
              mimeType: 'image/jpeg',
            },
          },
          { fileData: { fileUri: 'https://generativelanguage.googleapis.com/v1beta/files/def' } },
        ],
      },
    ]);
  });

  it('refuses media URLs it would have to fetch, and file references without a MIME type', () => {
    const image = request({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.png' } },
          ],
        },
      ],
    });
    expect(unsupported(() => encodeGeminiRequest(image))).toEqual({
      message: 'Gemini needs image data inline (base64) or a Gemini file URI',
      param: 'messages[0].content[1].source',
    });
    const document = request({
      messages: [
        userText('Q'),
        { role: 'assistant', content: [{ type: 'text', text: 'A' }] },
        {
          role: 'user',
          content: [{ type: 'document', source: { kind: 'url', url: 'http://example.com/a.pdf' } }],
        },
      ],
    });
    expect(unsupported(() => encodeGeminiRequest(document))).toEqual({
      message: 'Gemini needs document data inline (base64) or a Gemini file URI',
      param: 'messages[2].content[0].source',
    });
    const file = request({
      messages: [
        {
          role: 'user',
          content: [{ type: 'image', source: { kind: 'file', fileId: 'gs://bucket/cat', issuer: 'gemini' } }],
        },
      ],
    });
    expect(unsupported(() => encodeGeminiRequest(file))).toEqual({
      message: 'Gemini needs the MIME type of a file reference',
      param: 'messages[0].content[0].source',
    });
  });

  it('declares tools with their JSON Schema, calls held to it (VALIDATED) where one is strict', () => {
    const parameters = {
      type: 'object',
      properties: { city: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    };
    const body = encodeGeminiRequest(
      request({
        tools: [
          { name: 'get_weather', description: 'Weather for a city', parameters, strict: true },
          { name: 'now', parameters: { type: 'object', properties: {} } },
        ],
      }),
    );
    expect(body).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      tools: [
        {
          functionDeclarations: [
            { name: 'get_weather', description: 'Weather for a city', parametersJsonSchema: parameters },
            { name: 'now', parametersJsonSchema: { type: 'object', properties: {} } },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: 'VALIDATED' } },
    });
  });

  it('maps every tool choice to a function calling mode', () => {
    const tools = [{ name: 'now', parameters: { type: 'object' } }];
    const config = (toolChoice: ChatRequest['toolChoice']) =>
      encodeGeminiRequest(request({ tools, toolChoice })).toolConfig;
    expect(config({ type: 'auto' })).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(config({ type: 'none' })).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(config({ type: 'required' })).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(config({ type: 'tool', name: 'now' })).toEqual({
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['now'] },
    });
    expect(config(undefined)).toBeUndefined();
    expect(encodeGeminiRequest(request({ toolChoice: { type: 'required' } }))).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
    });
  });

  it('sends parallel tool calls and their results, error and name lookup included', () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('Weather and time in Paris?'),
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Checking.' },
              {
                type: 'tool_call',
                id: 'call_0123456789abcdef01234567',
                name: 'get_weather',
                arguments: '{"city":"Paris"}',
              },
              { type: 'tool_call', id: 'fc-2', name: 'get_time', arguments: '' },
            ],
          },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                toolCallId: 'call_0123456789abcdef01234567',
                content: [
                  { type: 'text', text: 'Sunny' },
                  { type: 'text', text: '21°C' },
                ],
              },
              {
                type: 'tool_result',
                toolCallId: 'fc-2',
                name: 'get_time',
                content: [{ type: 'text', text: 'clock unavailable' }],
                isError: true,
              },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
      {
        role: 'model',
        parts: [
          { text: 'Checking.' },
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } } },
          { functionCall: { id: 'fc-2', name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { result: 'Sunny\n\n21°C' } } },
          { functionResponse: { id: 'fc-2', name: 'get_time', response: { error: 'clock unavailable' } } },
        ],
      },
    ]);
  });

  it('sends a tool result with media as the response parts', () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('Take a screenshot'),
          {
            role: 'assistant',
            content: [{ type: 'tool_call', id: 'fc-1', name: 'screenshot', arguments: '{}' }],
          },
          {
            role: 'user',
            content: [
              {
                type: 'tool_result',
                toolCallId: 'fc-1',
                content: [
                  { type: 'text', text: 'Done' },
                  { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBO' } },
                ],
              },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Take a screenshot' }] },
      { role: 'model', parts: [{ functionCall: { id: 'fc-1', name: 'screenshot', args: {} } }] },
      {
        role: 'user',
        parts: [
          {
            functionResponse: {
              id: 'fc-1',
              name: 'screenshot',
              response: { result: 'Done' },
              parts: [{ inlineData: { mimeType: 'image/png', data: 'iVBO' } }],
            },
          },
        ],
      },
    ]);
  });

  it('refuses a tool result whose tool it cannot name, and arguments that are not a JSON object', () => {
    const orphan = request({
      messages: [{ role: 'user', content: [{ type: 'tool_result', toolCallId: 'x', content: [] }] }],
    });
    expect(unsupported(() => encodeGeminiRequest(orphan))).toEqual({
      message: 'Gemini needs the name of the tool a result answers, and no earlier tool call has this id',
      param: 'messages[0].content[0].toolCallId',
    });
    const broken = request({
      messages: [
        userText('Q'),
        { role: 'assistant', content: [{ type: 'tool_call', id: 'fc-1', name: 'f', arguments: '{"a":' }] },
      ],
    });
    expect(unsupported(() => encodeGeminiRequest(broken))).toEqual({
      message: 'Gemini needs tool call arguments as a JSON object',
      param: 'messages[1].content[0].arguments',
    });
    const array = request({
      messages: [
        userText('Q'),
        { role: 'assistant', content: [{ type: 'tool_call', id: 'a', name: 'f', arguments: '[1]' }] },
      ],
    });
    expect(unsupported(() => encodeGeminiRequest(array)).param).toBe('messages[1].content[0].arguments');
  });

  it('puts sampling, stop sequences and JSON mode in generationConfig', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
    expect(
      encodeGeminiRequest(
        request({
          maxTokens: 512,
          temperature: 0.2,
          topP: 0.9,
          topK: 40,
          stop: ['END', '###'],
          responseFormat: { type: 'json_schema', name: 'answer', schema, strict: true },
        }),
      ).generationConfig,
    ).toEqual({
      maxOutputTokens: 512,
      temperature: 0.2,
      topP: 0.9,
      topK: 40,
      stopSequences: ['END', '###'],
      responseMimeType: 'application/json',
      responseJsonSchema: schema,
    });
    expect(
      encodeGeminiRequest(request({ responseFormat: { type: 'json_object' } })).generationConfig,
    ).toEqual({
      responseMimeType: 'application/json',
    });
    expect(
      encodeGeminiRequest(request({ responseFormat: { type: 'json_schema', name: 'x' } })).generationConfig,
    ).toEqual({
      responseMimeType: 'application/json',
    });
    expect(
      encodeGeminiRequest(request({ responseFormat: { type: 'text' }, stop: [] })).generationConfig,
    ).toBeUndefined();
  });

  it('puts the seed and penalties in generationConfig after topK, zero ones included', () => {
    expect(
      JSON.stringify(
        encodeGeminiRequest(
          request({
            topK: 40,
            seed: 42,
            frequencyPenalty: 0.5,
            presencePenalty: -0.5,
            stop: ['END'],
            thinking: { enabled: false },
          }),
        ),
      ),
    ).toBe(
      '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],"generationConfig":{"topK":40,"seed":42,' +
        '"frequencyPenalty":0.5,"presencePenalty":-0.5,"stopSequences":["END"],' +
        '"thinkingConfig":{"thinkingBudget":0}}}',
    );
    expect(
      JSON.stringify(encodeGeminiRequest(request({ seed: 0, frequencyPenalty: 0, presencePenalty: 0 }))),
    ).toBe(
      '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}],' +
        '"generationConfig":{"seed":0,"frequencyPenalty":0,"presencePenalty":0}}',
    );
  });

  it('maps thinking to a budget, a level, or off', () => {
    const thinking = (value: ChatRequest['thinking']) =>
      encodeGeminiRequest(request({ model: 'gemini-3-pro-preview', thinking: value })).generationConfig;
    expect(thinking({ enabled: true, budgetTokens: 2048 })).toEqual({
      thinkingConfig: { thinkingBudget: 2048, includeThoughts: true },
    });
    expect(thinking({ enabled: true, budgetTokens: 2048, effort: 'low' })).toEqual({
      thinkingConfig: { thinkingBudget: 2048, includeThoughts: true },
    });
    expect(thinking({ enabled: true, effort: 'low' })).toEqual({
      thinkingConfig: { thinkingLevel: 'LOW', includeThoughts: true },
    });
    expect(thinking({ enabled: true, effort: 'minimal' })).toEqual({
      thinkingConfig: { thinkingLevel: 'LOW', includeThoughts: true },
    });
    expect(thinking({ enabled: true, effort: 'medium' })).toEqual({
      thinkingConfig: { thinkingLevel: 'HIGH', includeThoughts: true },
    });
    expect(thinking({ enabled: true, effort: 'xhigh' })).toEqual({
      thinkingConfig: { thinkingLevel: 'HIGH', includeThoughts: true },
    });
    expect(thinking({ enabled: true })).toEqual({ thinkingConfig: { includeThoughts: true } });
    expect(thinking({ enabled: false, budgetTokens: 2048 })).toEqual({
      thinkingConfig: { thinkingBudget: 0 },
    });
    expect(thinking({ enabled: true, effort: 'none' })).toEqual({ thinkingConfig: { thinkingBudget: 0 } });
  });

  it('gives models before Gemini 3, and models it cannot place, an effort as a budget', () => {
    const config = (model: string, effort: ReasoningEffort) =>
      encodeGeminiRequest(request({ model, thinking: { enabled: true, effort } })).generationConfig;
    expect(config('gemini-2.5-flash', 'low')).toEqual({
      thinkingConfig: { thinkingBudget: 2048, includeThoughts: true },
    });
    expect(config('gemini-2.5-pro', 'medium')).toEqual({
      thinkingConfig: { thinkingBudget: 8192, includeThoughts: true },
    });
    expect(config('gemini-2.5-flash-lite', 'minimal')).toEqual({
      thinkingConfig: { thinkingBudget: 512, includeThoughts: true },
    });
    expect(config('gemini-flash-latest', 'max')).toEqual({
      thinkingConfig: { thinkingBudget: 24576, includeThoughts: true },
    });
    expect(config('gemini-3-flash-preview', 'high')).toEqual({
      thinkingConfig: { thinkingLevel: 'HIGH', includeThoughts: true },
    });
    expect(config('models/gemini-3.1-pro-preview', 'low')).toEqual({
      thinkingConfig: { thinkingLevel: 'LOW', includeThoughts: true },
    });
    expect(config('gemini-robotics-er-1.5-preview', 'high')).toEqual({
      thinkingConfig: { thinkingBudget: 16384, includeThoughts: true },
    });
  });
});

describe('thought signatures through tool call ids', () => {
  it('carries a signature in the id and restores it from the id alone', () => {
    const answer = decodeGeminiResponse({
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: SIG },
              { functionCall: { id: 'fc-9', name: 'get_time', args: {} }, thoughtSignature: 'AAAA' },
            ],
          },
          finishReason: 'STOP',
        },
      ],
    });
    const [generated, given] = answer.content;
    if (generated?.type !== 'tool_call' || given?.type !== 'tool_call')
      throw new Error('expected tool calls');
    const [prefix, suffix] = generated.id.split('__thought__');
    expect(prefix).toMatch(GENERATED);
    expect(suffix).toBe(SIG_URL);
    expect(given.id).toBe('fc-9__thought__AAAA');
    expect(/^[A-Za-z0-9_-]+$/.test(generated.id)).toBe(true);

    // An OpenAI or Anthropic client sends back the ids, not the signatures.
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('Weather and time?'),
          {
            role: 'assistant',
            content: [
              { type: 'tool_call', id: generated.id, name: 'get_weather', arguments: '{"city":"Paris"}' },
              { type: 'tool_call', id: given.id, name: 'get_time', arguments: '{}' },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', toolCallId: generated.id, content: [{ type: 'text', text: 'Sunny' }] },
              { type: 'tool_result', toolCallId: given.id, content: [{ type: 'text', text: '12:00' }] },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather and time?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: SIG },
          { functionCall: { id: 'fc-9', name: 'get_time', args: {} }, thoughtSignature: 'AAAA' },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'get_weather', response: { result: 'Sunny' } } },
          { functionResponse: { id: 'fc-9', name: 'get_time', response: { result: '12:00' } } },
        ],
      },
    ]);
  });

  it('prefers the tool call part signature over the one in the id', () => {
    const body = encodeGeminiRequest(
      request({
        messages: [
          userText('Q'),
          {
            role: 'assistant',
            content: [
              {
                type: 'tool_call',
                id: `fc-1__thought__${SIG_URL}`,
                name: 'f',
                arguments: '{}',
                signature: 'BBBB',
              },
            ],
          },
        ],
      }),
    );
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Q' }] },
      {
        role: 'model',
        parts: [{ functionCall: { id: 'fc-1', name: 'f', args: {} }, thoughtSignature: 'BBBB' }],
      },
    ]);
  });
});

describe('function calls Gemini never signed', () => {
  const history = (model: string) =>
    encodeGeminiRequest(
      request({
        model,
        messages: [
          userText('Weather in Paris and Oslo?'),
          {
            role: 'assistant',
            content: [
              { type: 'tool_call', id: 'toolu_1', name: 'weather', arguments: '{"city":"Paris"}' },
              { type: 'tool_call', id: 'toolu_2', name: 'weather', arguments: '{"city":"Oslo"}' },
            ],
          },
        ],
      }),
    ).contents as Array<{ parts: Array<Record<string, unknown>> }>;

  it("give Gemini 3 the documented stand-in on a turn's first call only", () => {
    expect(history('gemini-3-pro-preview')[1]!.parts.map((part) => part.thoughtSignature)).toEqual([
      'skip_thought_signature_validator',
      undefined,
    ]);
  });

  it('leave earlier models, which check no signatures, untouched', () => {
    expect(history('gemini-2.5-flash')[1]!.parts.some((part) => 'thoughtSignature' in part)).toBe(false);
  });
});

describe('Gemini response decoding', () => {
  it('joins text parts and reads id, model and usage', () => {
    expect(
      decodeGeminiResponse({
        candidates: [
          {
            content: { role: 'model', parts: [{ text: 'Hello' }, { text: ' world' }] },
            finishReason: 'STOP',
            index: 0,
          },
        ],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 2, totalTokenCount: 12 },
        modelVersion: 'gemini-2.5-flash',
        responseId: 'resp-1',
      }),
    ).toEqual({
      id: 'resp-1',
      model: 'gemini-2.5-flash',
      content: [{ type: 'text', text: 'Hello world' }],
      stopReason: 'end_turn',
      usage: { inputTokens: 10, outputTokens: 2 },
    } satisfies ChatResponse);
  });

  it('turns thought parts into signed thinking', () => {
    const answer = decodeGeminiResponse({
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              { text: 'Let me think', thought: true },
              { text: ' more.', thought: true },
              { text: 'Answer', thoughtSignature: SIG },
              { text: ' done.' },
              { text: 'Second thought', thought: true, thoughtSignature: 'AAAA' },
              { text: '', thoughtSignature: 'BBBB' },
            ],
          },
          finishReason: 'STOP',
        },
      ],
      responseId: 'r',
      modelVersion: 'm',
    });
    expect(answer.content).toEqual([
      { type: 'thinking', text: 'Let me think more.', signature: SIG, signedBy: 'gemini' },
      { type: 'text', text: 'Answer done.' },
      { type: 'thinking', text: 'Second thought', signature: 'AAAA', signedBy: 'gemini' },
    ]);
  });

  it('decodes parallel function calls as tool_use', () => {
    const answer = decodeGeminiResponse({
      candidates: [
        {
          content: {
            role: 'model',
            parts: [
              { functionCall: { id: 'fc-1', name: 'get_weather', args: { city: 'Paris' } } },
              { functionCall: { name: 'get_time' } },
            ],
          },
          finishReason: 'STOP',
        },
      ],
      responseId: 'r',
      modelVersion: 'm',
    });
    expect(answer).toEqual({
      id: 'r',
      model: 'm',
      content: [
        { type: 'tool_call', id: 'fc-1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'tool_call', id: expect.stringMatching(GENERATED), name: 'get_time', arguments: '{}' },
      ],
      stopReason: 'tool_use',
      usage: { inputTokens: 0, outputTokens: 0, unreported: true },
    });
  });

  it('counts cached, tool and thought tokens the canonical way', () => {
    const usageMetadata = {
      promptTokenCount: 100,
      cachedContentTokenCount: 60,
      candidatesTokenCount: 20,
      thoughtsTokenCount: 30,
      toolUsePromptTokenCount: 5,
      totalTokenCount: 155,
    };
    expect(geminiUsage(usageMetadata)).toEqual({
      inputTokens: 105,
      outputTokens: 50,
      cachedTokens: 60,
      reasoningTokens: 30,
    });
    expect(readGeminiUsage({ usageMetadata })).toEqual({
      inputTokens: 105,
      outputTokens: 50,
      cachedTokens: 60,
    });
    expect(readGeminiUsage({ candidates: [] })).toBeUndefined();
    expect(readGeminiUsage(null)).toBeUndefined();
  });

  it('maps finish reasons and blocked prompts', () => {
    const stop = (finishReason: string, parts: unknown[] = [{ text: 'x' }]) =>
      decodeGeminiResponse({ candidates: [{ content: { role: 'model', parts }, finishReason }] }).stopReason;
    expect(stop('STOP')).toBe('end_turn');
    expect(stop('MAX_TOKENS')).toBe('max_tokens');
    expect(stop('SAFETY', [])).toBe('content_filter');
    expect(stop('RECITATION')).toBe('content_filter');
    expect(stop('BLOCKLIST')).toBe('content_filter');
    expect(stop('PROHIBITED_CONTENT')).toBe('content_filter');
    expect(stop('SPII')).toBe('content_filter');
    expect(stop('OTHER')).toBe('end_turn');
    expect(stop('MALFORMED_FUNCTION_CALL', [])).toBe('end_turn');
    expect(
      decodeGeminiResponse({
        candidates: [{ finishReason: 'SAFETY', index: 0 }],
        responseId: 'r',
        modelVersion: 'm',
      }),
    ).toEqual({
      id: 'r',
      model: 'm',
      content: [],
      stopReason: 'content_filter',
      usage: { inputTokens: 0, outputTokens: 0, unreported: true },
    });
    expect(
      decodeGeminiResponse({
        promptFeedback: { blockReason: 'SAFETY' },
        usageMetadata: { promptTokenCount: 7 },
        responseId: 'r',
        modelVersion: 'm',
      }),
    ).toEqual({
      id: 'r',
      model: 'm',
      content: [],
      stopReason: 'content_filter',
      usage: { inputTokens: 7, outputTokens: 0 },
    });
  });

  it('refuses answers that are not Gemini answers', () => {
    expect(() => decodeGeminiResponse('nope')).toThrow('a Gemini answer is a JSON object');
    expect(() => decodeGeminiResponse({ modelVersion: 'm' })).toThrow('a Gemini answer without candidates');
  });
});

const bytes = (text: string) => new TextEncoder().encode(text);
const sse = (...chunks: unknown[]) =>
  chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\r\n\r\n`).join('');

/** All events of one stream, its bytes pushed `size` at a time. */
function decode(stream: string, size = stream.length): StreamEvent[] {
  const decoder = new GeminiStreamDecoder();
  const raw = bytes(stream);
  const events: StreamEvent[] = [];
  for (let i = 0; i < raw.length; i += size) events.push(...decoder.push(raw.subarray(i, i + size)));
  events.push(...decoder.end());
  return events;
}

describe('Gemini stream decoding', () => {
  it('decodes text over several chunks, however the bytes are cut', () => {
    const stream = sse(
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] }, index: 0 }],
        usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 1 },
        modelVersion: 'gemini-2.5-flash',
        responseId: 'resp-7',
      },
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'lo, ' }, { text: 'wörld' }] }, index: 0 }],
        modelVersion: 'gemini-2.5-flash',
        responseId: 'resp-7',
      },
      {
        candidates: [{ content: { role: 'model', parts: [{ text: '!' }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 4, totalTokenCount: 12 },
        modelVersion: 'gemini-2.5-flash',
        responseId: 'resp-7',
      },
    );
    const expected: StreamEvent[] = [
      // The first chunk's prompt count: a stream cut after it still has its input.
      { type: 'start', id: 'resp-7', model: 'gemini-2.5-flash', usage: { inputTokens: 8, outputTokens: 1 } },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo, ' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'wörld' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: '!' } },
      { type: 'block_stop', index: 0 },
      { type: 'finish', stopReason: 'end_turn', usage: { inputTokens: 8, outputTokens: 4 } },
    ];
    for (let size = 1; size <= stream.length; size += 7) expect(decode(stream, size)).toEqual(expected);
  });

  it('decodes thoughts with their signature, then text', () => {
    const events = decode(
      sse(
        {
          candidates: [{ content: { parts: [{ text: 'Think', thought: true }] } }],
          responseId: 'r',
          modelVersion: 'm',
        },
        {
          candidates: [{ content: { parts: [{ text: 'ing.', thought: true }] } }],
          responseId: 'r',
          modelVersion: 'm',
        },
        {
          candidates: [
            { content: { parts: [{ text: 'Answer', thoughtSignature: SIG }] }, finishReason: 'MAX_TOKENS' },
          ],
          usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, thoughtsTokenCount: 9 },
          responseId: 'r',
          modelVersion: 'm',
        },
      ),
    );
    expect(events).toEqual([
      { type: 'start', id: 'r', model: 'm' },
      { type: 'block_start', index: 0, block: { type: 'thinking', signedBy: 'gemini' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Think' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'ing.' } },
      { type: 'block_delta', index: 0, delta: { type: 'signature', signature: SIG } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'text' } },
      { type: 'block_delta', index: 1, delta: { type: 'text', text: 'Answer' } },
      { type: 'block_stop', index: 1 },
      {
        type: 'finish',
        stopReason: 'max_tokens',
        usage: { inputTokens: 3, outputTokens: 10, reasoningTokens: 9 },
      },
    ]);
  });

  it('decodes a signed thought part as a closed thinking block', () => {
    const events = decode(
      sse({
        candidates: [
          {
            content: { parts: [{ text: 'Plan', thought: true, thoughtSignature: 'AAAA' }, { text: 'Go' }] },
            finishReason: 'STOP',
          },
        ],
        responseId: 'r',
        modelVersion: 'm',
      }),
    );
    expect(events).toEqual([
      { type: 'start', id: 'r', model: 'm' },
      { type: 'block_start', index: 0, block: { type: 'thinking', signedBy: 'gemini' } },
      { type: 'block_delta', index: 0, delta: { type: 'thinking', text: 'Plan' } },
      { type: 'block_delta', index: 0, delta: { type: 'signature', signature: 'AAAA' } },
      { type: 'block_stop', index: 0 },
      { type: 'block_start', index: 1, block: { type: 'text' } },
      { type: 'block_delta', index: 1, delta: { type: 'text', text: 'Go' } },
      { type: 'block_stop', index: 1 },
      {
        type: 'finish',
        stopReason: 'end_turn',
        usage: { inputTokens: 0, outputTokens: 0, unreported: true },
      },
    ]);
  });

  it('decodes two function calls in one chunk, after text', () => {
    const events = decode(
      sse(
        { candidates: [{ content: { parts: [{ text: 'Checking.' }] } }], responseId: 'r', modelVersion: 'm' },
        {
          candidates: [
            {
              content: {
                parts: [
                  { functionCall: { name: 'get_weather', args: { city: 'Paris' } }, thoughtSignature: SIG },
                  { functionCall: { id: 'fc-2', name: 'get_time', args: {} } },
                ],
              },
              finishReason: 'STOP',
            },
          ],
          usageMetadata: { promptTokenCount: 20, cachedContentTokenCount: 16, candidatesTokenCount: 12 },
          responseId: 'r',
          modelVersion: 'm',
        },
      ),
    );
    expect(events).toEqual([
      { type: 'start', id: 'r', model: 'm' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Checking.' } },
      { type: 'block_stop', index: 0 },
      {
        type: 'block_start',
        index: 1,
        block: {
          type: 'tool_call',
          id: expect.stringMatching(/^call_[0-9a-f]{24}__thought__CiUB-_8fAAE$/),
          name: 'get_weather',
          signature: SIG,
        },
      },
      { type: 'block_delta', index: 1, delta: { type: 'arguments', json: '{"city":"Paris"}' } },
      { type: 'block_stop', index: 1 },
      { type: 'block_start', index: 2, block: { type: 'tool_call', id: 'fc-2', name: 'get_time' } },
      { type: 'block_delta', index: 2, delta: { type: 'arguments', json: '{}' } },
      { type: 'block_stop', index: 2 },
      {
        type: 'finish',
        stopReason: 'tool_use',
        usage: { inputTokens: 20, outputTokens: 12, cachedTokens: 16 },
      },
    ]);
  });

  it('finishes a blocked prompt as content_filter', () => {
    expect(
      decode(
        sse({
          promptFeedback: { blockReason: 'PROHIBITED_CONTENT' },
          usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 },
          responseId: 'r',
          modelVersion: 'm',
        }),
      ),
    ).toEqual([
      { type: 'start', id: 'r', model: 'm', usage: { inputTokens: 5, outputTokens: 0 } },
      { type: 'finish', stopReason: 'content_filter', usage: { inputTokens: 5, outputTokens: 0 } },
    ]);
  });

  it('fails with its own words on an error event, with the error code as status', () => {
    const stream =
      sse({ candidates: [{ content: { parts: [{ text: 'Hi' }] } }], responseId: 'r', modelVersion: 'm' }) +
      sse({
        error: {
          code: 429,
          message: 'Resource has been exhausted (secret detail)',
          status: 'RESOURCE_EXHAUSTED',
        },
      });
    expect(failure(() => decode(stream))).toEqual({
      reason: 'provider_error',
      message: 'Gemini reported an error during the stream',
      status: 429,
    });
    expect(failure(() => decode(sse({ error: { message: 'no code' } })))).toEqual({
      reason: 'provider_error',
      message: 'Gemini reported an error during the stream',
      status: 500,
    });
  });

  it('once the stream has begun, lets the events before an error out first and fails on the next call', () => {
    const decoder = new GeminiStreamDecoder();
    const text = (piece: string) => ({
      candidates: [{ content: { role: 'model', parts: [{ text: piece }] }, index: 0 }],
      responseId: 'r',
      modelVersion: 'm',
    });
    const error = {
      error: { code: 503, message: 'The model is overloaded (secret)', status: 'UNAVAILABLE' },
    };
    expect(decoder.push(bytes(sse(text('Hel'))))).toEqual([
      { type: 'start', id: 'r', model: 'm' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'Hel' } },
    ]);
    expect(decoder.push(bytes(sse(text('lo'), error, text('late'))))).toEqual([
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo' } },
    ]);
    const failed = {
      reason: 'provider_error',
      message: 'Gemini reported an error during the stream',
      status: 503,
    };
    expect(failure(() => decoder.push(bytes(sse(text('!')))))).toEqual(failed);
    expect(failure(() => decoder.end())).toEqual(failed);

    // A broken event is held back the same way; an error with nothing before it in its chunk is not.
    const broken = new GeminiStreamDecoder();
    expect(broken.push(bytes(sse(text('Hel'))))).toHaveLength(3);
    expect(broken.push(bytes(`${sse(text('lo'))}data: <html>Bad gateway</html>\r\n\r\n`))).toEqual([
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'lo' } },
    ]);
    expect(failure(() => broken.end())).toEqual({
      reason: 'cut',
      message: 'The Gemini stream carried an event that is not JSON',
      status: undefined,
    });
    const alone = new GeminiStreamDecoder();
    expect(alone.push(bytes(sse(text('Hel'))))).toHaveLength(3);
    expect(failure(() => alone.push(bytes(sse(error))))).toEqual(failed);
  });

  it('fails at once on an error in the first chunk, events before it or not (the request can still fall back)', () => {
    const decoder = new GeminiStreamDecoder();
    const stream = sse(
      { candidates: [{ content: { parts: [{ text: 'Hel' }] } }], responseId: 'r', modelVersion: 'm' },
      { error: { code: 500, message: 'Internal error (secret)', status: 'INTERNAL' } },
    );
    expect(failure(() => decoder.push(bytes(stream)))).toEqual({
      reason: 'provider_error',
      message: 'Gemini reported an error during the stream',
      status: 500,
    });
  });

  it('fails as cut when the body breaks mid-event, even after a finish reason', () => {
    const whole = sse({
      candidates: [{ content: { parts: [{ text: 'Hi' }] } }],
      responseId: 'r',
      modelVersion: 'm',
    });
    expect(failure(() => decode(`${whole}data: {"candidates":[{"content":{"parts":[{"te`))).toEqual({
      reason: 'cut',
      message: 'The Gemini stream broke off mid-event',
      status: undefined,
    });
    const finished = sse({ candidates: [{ content: { parts: [{ text: 'Hi' }] }, finishReason: 'STOP' }] });
    expect(failure(() => decode(`${finished}data: {"cand`)).reason).toBe('cut');
    expect(failure(() => decode('data: not json\n\n')).reason).toBe('cut');
  });

  it('fails as incomplete when the body ends without a finish reason', () => {
    const stream = sse({
      candidates: [{ content: { parts: [{ text: 'Hi' }] } }],
      responseId: 'r',
      modelVersion: 'm',
    });
    expect(failure(() => decode(stream))).toEqual({
      reason: 'incomplete',
      message: 'The Gemini stream ended before the answer finished',
      status: undefined,
    });
    expect(failure(() => decode('')).reason).toBe('incomplete');
  });
});

describe('Gemini adapter', () => {
  const config = configSchema.parse({
    providers: [
      {
        id: 'gemini',
        type: 'gemini',
        baseUrl: 'https://generativelanguage.googleapis.com/v1beta',
        keys: { env: 'GEMINI_API_KEY' },
        headers: { 'x-team': 'search' },
      },
    ],
  }).providers[0]!;
  const adapter = createGeminiAdapter(config);
  const key = new SecretString('AIzaTestKey');
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'accept-encoding': 'identity',
    'x-team': 'search',
    'x-goog-api-key': 'AIzaTestKey',
  };

  it('describes itself', () => {
    expect([adapter.type, adapter.format, adapter.requiresKey]).toEqual(['gemini', 'gemini', true]);
    expect(adapter.readUsage({ usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 2 } })).toEqual({
      inputTokens: 4,
      outputTokens: 2,
    });
  });

  it('builds chat calls with the key in a header only', () => {
    const chat = request({ model: 'gemini-2.5-flash' });
    expect(adapter.buildChatCall(chat, key)).toEqual({
      path: '/v1beta/models/gemini-2.5-flash:generateContent',
      headers,
      body: '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}',
    });
    const streamed = adapter.buildChatCall({ ...chat, model: 'tuned/odd model', stream: true }, key);
    expect(streamed.path).toBe('/v1beta/models/tuned%2Fodd%20model:streamGenerateContent?alt=sse');
    expect(streamed.body).toBe('{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}');
    expect(adapter.chat.encodeRequest(chat)).toEqual({
      path: '/v1beta/models/gemini-2.5-flash:generateContent',
      body: '{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}',
    });
  });

  it('builds a countTokens call over the whole request and reads its answer', () => {
    const call = adapter.buildCountTokensCall?.(
      request({
        system: [{ type: 'text', text: 'Be brief.' }],
        tools: [{ name: 'now', parameters: { type: 'object' } }],
        maxTokens: 10,
      }),
      key,
    );
    expect(call).toEqual({
      path: '/v1beta/models/gemini-2.5-flash:countTokens',
      headers,
      body: JSON.stringify({
        generateContentRequest: {
          model: 'models/gemini-2.5-flash',
          contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
          systemInstruction: { parts: [{ text: 'Be brief.' }] },
          tools: [{ functionDeclarations: [{ name: 'now', parametersJsonSchema: { type: 'object' } }] }],
        },
      }),
    });
    expect(adapter.buildCountTokensCall?.(request({}), key).body).toBe(
      '{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"role":"user","parts":[{"text":"Hi"}]}]}}',
    );
    expect(adapter.readTokenCount?.({ totalTokens: 31, cachedContentTokenCount: 0 })).toBe(31);
    expect(adapter.readTokenCount?.({})).toBeUndefined();
  });

  it('never puts the key in a URL', () => {
    const paths = [
      adapter.buildChatCall(request({}), key).path,
      adapter.buildChatCall(request({ stream: true }), key).path,
      adapter.buildCountTokensCall?.(request({}), key).path ?? '',
    ];
    for (const path of paths) {
      expect(path).not.toContain('key=');
      expect(path).not.toContain('AIzaTestKey');
    }
  });

  it('takes the Gemini surface body as is, model and stream to the path; embeddings go to embedContent or batchEmbedContents, text only', () => {
    const contents = [{ role: 'user', parts: [{ text: 'hi' }] }];
    const chat = adapter.buildCall(
      'chat',
      'gemini-2.5-flash',
      { contents, model: 'alias', stream: true },
      key,
    );
    expect(chat.path).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(JSON.parse(chat.body)).toEqual({ contents });
    const bare = adapter.buildCall('count_tokens', 'gemini-2.5-flash', { contents, model: 'alias' }, key);
    expect([bare.path, JSON.parse(bare.body)]).toEqual([
      '/v1beta/models/gemini-2.5-flash:countTokens',
      { contents },
    ]);
    const system = { parts: [{ text: 'Be brief.' }] };
    const whole = adapter.buildCall(
      'count_tokens',
      'gemini-2.5-flash',
      { contents, systemInstruction: system, model: 'a' },
      key,
    );
    expect(JSON.parse(whole.body)).toEqual({
      generateContentRequest: { model: 'models/gemini-2.5-flash', contents, systemInstruction: system },
    });
    const hinted = adapter.buildCall('embeddings', 'gemini-embedding-001', { model: 'e', input: 'x' }, key, {
      embedding: { taskType: 'CLUSTERING', title: 'T' },
    });
    expect(JSON.parse(hinted.body)).toMatchObject({ taskType: 'CLUSTERING', title: 'T' });
    const one = adapter.buildCall('embeddings', 'gemini-embedding-001', { model: 'e', input: 'x' }, key);
    expect(one.path).toBe('/v1beta/models/gemini-embedding-001:embedContent');
    expect(JSON.parse(one.body)).toEqual({
      model: 'models/gemini-embedding-001',
      content: { parts: [{ text: 'x' }] },
    });
    const two = adapter.buildCall(
      'embeddings',
      'gemini-embedding-001',
      { model: 'e', input: ['x', 'y'], dimensions: 8 },
      key,
    );
    expect(two.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    expect(JSON.parse(two.body).requests).toHaveLength(2);
    expect(
      unsupported(() =>
        adapter.buildCall('embeddings', 'gemini-embedding-001', { model: 'e', input: [1, 2] }, key),
      ),
    ).toEqual({
      message: 'Gemini embeds text only: send the input as a string or an array of strings, not token ids',
      param: 'input',
    });
    // An answer with a vector missing is malformed, not a shorter list.
    expect(() =>
      adapter.embeddingsAnswer?.({ embeddings: [{ values: [1] }] }, { model: 'e', input: ['x', 'y'] }, 'm'),
    ).toThrow();
  });

  it('decodes through its codec', () => {
    const decoder = adapter.chat.streamDecoder();
    expect(
      decoder.push(
        bytes(sse({ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: 'STOP' }] })),
      ),
    ).toEqual([
      { type: 'start', id: '', model: '' },
      { type: 'block_start', index: 0, block: { type: 'text' } },
      { type: 'block_delta', index: 0, delta: { type: 'text', text: 'x' } },
    ]);
    expect(decoder.end()).toEqual([
      { type: 'block_stop', index: 0 },
      {
        type: 'finish',
        stopReason: 'end_turn',
        usage: { inputTokens: 0, outputTokens: 0, unreported: true },
      },
    ]);
  });
});
