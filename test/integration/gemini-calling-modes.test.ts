import { FunctionCallingConfigMode, GoogleGenAI } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A Gemini client's function calling modes on a translated route. `ANY` forces a call (one
 * allowed name: that tool) and holds it to its schema, `VALIDATED` holds calls to their schemas
 * and leaves the model free to answer. Other formats hold calls to a schema as Anthropic's strict
 * tools or OpenAI's `strict` do: `VALIDATED` asks for it as Anthropic's `strict: true` does (a
 * target that cannot hold the call refuses), `ANY` as a schema without a switch (held where it
 * fits, else as before).
 */

let setup: FormatGateway;

beforeAll(async () => {
  setup = await startFormatGateway();
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
});
afterAll(() => setup?.close());

type Json = Record<string, unknown>;

const closed = {
  type: 'object',
  properties: { city: { type: 'string' } },
  required: ['city'],
  additionalProperties: false,
};
const optional = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };

const gemini = () => new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });

const ask = (
  model: string,
  mode: FunctionCallingConfigMode,
  parametersJsonSchema: Json = closed,
  allowedFunctionNames?: string[],
) =>
  gemini().models.generateContent({
    model,
    contents: 'Weather in Paris?',
    config: {
      tools: [
        {
          functionDeclarations: [
            { name: 'weather', parametersJsonSchema },
            { name: 'time', parametersJsonSchema: closed },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode, ...(allowedFunctionNames && { allowedFunctionNames }) } },
    },
  });

const sent = (format: 'openai' | 'anthropic' | 'ollama') => setup.fakes[format].requests.at(-1)!.body as Json;
const openAIFunctions = () => (sent('openai').tools as Json[]).map((tool) => tool.function as Json);

describe("a Gemini client's VALIDATED mode", () => {
  it('makes the tools strict at OpenAI and Anthropic, the model free to answer', async () => {
    await ask('openai/gpt-4o-mini', FunctionCallingConfigMode.VALIDATED);
    expect(openAIFunctions().map((fn) => fn.strict)).toEqual([true, true]);
    expect(sent('openai').tool_choice).toBe('auto');
    await ask('anthropic/claude-sonnet-4-5', FunctionCallingConfigMode.VALIDATED);
    expect((sent('anthropic').tools as Json[]).map((tool) => tool.strict)).toEqual([true, true]);
    expect(sent('anthropic').tool_choice).toEqual({ type: 'auto' });
  });

  it('with one allowed name offers that tool alone, still free to answer', async () => {
    await ask('openai/gpt-4o-mini', FunctionCallingConfigMode.VALIDATED, closed, ['time']);
    expect(openAIFunctions()).toEqual([{ name: 'time', parameters: closed, strict: true }]);
    expect(sent('openai').tool_choice).toBe('auto');
  });

  it('is refused where the schema cannot be held, naming the mode', async () => {
    const before = setup.fakes.ollama.requests.length;
    const refused = await ask('ollama/llama3.2', FunctionCallingConfigMode.VALIDATED).catch(
      (error: unknown) => error as Error,
    );
    expect(refused).toBeInstanceOf(Error);
    expect(String(refused)).toContain('toolConfig.functionCallingConfig.mode');
    expect(String(refused)).toContain('Ollama');
    expect(setup.fakes.ollama.requests.length).toBe(before);
  });
});

describe("a Gemini client's ANY mode", () => {
  it('forces a call, to the one allowed tool by name, held to its schema where it fits', async () => {
    await ask('openai/gpt-4o-mini', FunctionCallingConfigMode.ANY);
    expect(sent('openai').tool_choice).toBe('required');
    expect(openAIFunctions().map((fn) => fn.strict)).toEqual([true, true]);
    await ask('openai/gpt-4o-mini', FunctionCallingConfigMode.ANY, closed, ['weather']);
    expect(sent('openai').tool_choice).toEqual({ type: 'function', function: { name: 'weather' } });
    expect(openAIFunctions()).toEqual([{ name: 'weather', parameters: closed, strict: true }]);
  });

  it('goes as before where the schema does not fit, and at Ollama', async () => {
    await ask('openai/gpt-4o-mini', FunctionCallingConfigMode.ANY, optional);
    expect(openAIFunctions()[0]).toEqual({ name: 'weather', parameters: optional });
    await ask('ollama/llama3.2', FunctionCallingConfigMode.ANY, optional, ['weather']);
    expect((sent('ollama').tools as Json[]).map((tool) => (tool.function as Json).name)).toEqual(['weather']);
  });
});

describe("a Gemini client's AUTO mode", () => {
  it('asks for no schema to be held', async () => {
    await ask('openai/gpt-4o-mini', FunctionCallingConfigMode.AUTO);
    expect(openAIFunctions().map((fn) => fn.strict)).toEqual([undefined, undefined]);
    expect(sent('openai').tool_choice).toBe('auto');
  });
});
