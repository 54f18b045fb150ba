import { describe, expect, it } from 'vitest';
import { CustomInputReader, customInput, customToolDefinition } from '../../src/canonical/custom-tools.js';
import type { ChatRequest } from '../../src/canonical/model.js';
import { createOpenAIChatCodec } from '../../src/providers/openai/codec.js';

/** Reading a custom tool's text out of its function form's JSON arguments as they stream in. */

function readInPieces(json: string, size: number): { given: string[]; input: string; rest: string } {
  const reader = new CustomInputReader();
  const given: string[] = [];
  for (let at = 0; at < json.length; at += size) {
    const text = reader.push(json.slice(at, at + size));
    if (text) given.push(text);
  }
  return { given, ...reader.end() };
}

describe('CustomInputReader', () => {
  const text = '*** Begin Patch\n\t"quoted" \\ back/slash \u00e9 \ud83d\ude00 \u0001 end';
  const json = JSON.stringify({ input: text });
  const escaped = json.replace('\u00e9', '\\u00e9').replace('\ud83d\ude00', '\\ud83d\\ude00');

  for (const size of [1, 2, 3, 7, 1_000]) {
    it(`gives the text as it comes, escapes split between pieces included (pieces of ${size})`, () => {
      for (const arguments_ of [json, escaped, ` { "input" :\n"${JSON.stringify(text).slice(1)} }`]) {
        const read = readInPieces(arguments_, size);
        expect(read.given.join('') + read.rest).toBe(text);
        expect(read.input).toBe(text);
        expect(read.rest).toBe('');
        if (size < 100) expect(read.given.length).toBeGreaterThan(1);
      }
    });
  }

  it('gives arguments of another shape whole at the end', () => {
    for (const other of ['{"note":"x","input":"the text"}', 'the text', '{"input":42}']) {
      const read = readInPieces(other, 3);
      expect(read.given).toEqual([]);
      expect(read.input).toBe(customInput(other));
      expect(read.rest).toBe(read.input);
    }
    expect(customInput('{"note":"x","input":"the text"}')).toBe('the text');
    expect(customInput('the text')).toBe('the text');
  });
});

describe('custom tools to a server imitating Chat Completions', () => {
  const tool = customToolDefinition('apply_patch', 'Edits files.', {
    type: 'grammar',
    syntax: 'lark',
    definition: 'start: "x"',
  });
  const request: ChatRequest = {
    model: 'm',
    system: [],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Add it' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_call', id: 'call_1', name: 'apply_patch', arguments: '*** Patch', custom: true },
        ],
      },
      {
        role: 'user',
        content: [{ type: 'tool_result', toolCallId: 'call_1', content: [{ type: 'text', text: 'ok' }] }],
      },
    ],
    tools: [tool],
    toolChoice: { type: 'tool', name: 'apply_patch' },
    stream: false,
  };
  const encode = (customTools: boolean) =>
    JSON.parse(
      createOpenAIChatCodec({
        pathFor: () => '/v1/chat/completions',
        streamUsage: false,
        maxTokensField: 'max_tokens',
        customTools,
        openAIServer: customTools,
      }).encodeRequest(request).body,
    ) as Record<string, unknown>;

  it("is sent each custom tool's function form, its calls' text as the function's input", () => {
    const body = encode(false);
    expect(body.tools).toEqual([
      {
        type: 'function',
        function: { name: 'apply_patch', description: tool.description, parameters: tool.parameters },
      },
    ]);
    expect(body.tool_choice).toEqual({ type: 'function', function: { name: 'apply_patch' } });
    expect(JSON.stringify(body.messages)).toContain(
      JSON.stringify({ name: 'apply_patch', arguments: JSON.stringify({ input: '*** Patch' }) }).slice(1, -1),
    );
  });

  it('while OpenAI is sent the custom tool itself', () => {
    const body = encode(true);
    expect(body.tools).toEqual([
      {
        type: 'custom',
        custom: {
          name: 'apply_patch',
          description: 'Edits files.',
          format: { type: 'grammar', grammar: { definition: 'start: "x"', syntax: 'lark' } },
        },
      },
    ]);
    expect(body.tool_choice).toEqual({ type: 'custom', custom: { name: 'apply_patch' } });
  });
});
