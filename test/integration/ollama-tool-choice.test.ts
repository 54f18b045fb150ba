import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Ollama's chat API has no tool choice. A client naming the tool to call has only that tool sent,
 * so the model can call no other (as the Gemini surface's `allowedFunctionNames` narrows the
 * tools); `required` stays advisory, with every tool sent.
 */

let setup: FormatGateway;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

const tool = (name: string): OpenAI.ChatCompletionFunctionTool => ({
  type: 'function',
  function: { name, parameters: { type: 'object', properties: {} } },
});

/** The tool names the Ollama fake was sent last. */
const sentTools = (): string[] =>
  (
    (setup.fakes.ollama.requests.at(-1)!.body as { tools?: Array<{ function: { name: string } }> }).tools ??
    []
  ).map((sent) => sent.function.name);

describe('a tool choice for an Ollama model', () => {
  it('sends only the named tool', async () => {
    await openai.chat.completions.create({
      model: 'ollama/llama3.2',
      messages: [{ role: 'user', content: 'hi' }],
      tools: [tool('f'), tool('g')],
      tool_choice: { type: 'function', function: { name: 'g' } },
    });
    expect(sentTools()).toEqual(['g']);
  });

  it('sends every tool for required and auto, and none for none', async () => {
    for (const [choice, names] of [
      ['required', ['f', 'g']],
      ['auto', ['f', 'g']],
      ['none', []],
    ] as const) {
      await openai.chat.completions.create({
        model: 'ollama/llama3.2',
        messages: [{ role: 'user', content: 'hi' }],
        tools: [tool('f'), tool('g')],
        tool_choice: choice,
      });
      expect(sentTools()).toEqual(names);
    }
  });
});
