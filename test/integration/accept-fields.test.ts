import { FunctionCallingConfigMode, GoogleGenAI, MediaProcessing } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/** The value at `keys` in a body a fake provider was sent. */
const at = (value: unknown, ...keys: (string | number)[]): unknown =>
  keys.reduce<unknown>((inner, key) => (inner as Record<string | number, unknown> | undefined)?.[key], value);

/** Legitimate request fields the SDKs send, taken and carried rather than refused or dropped. */
describe('legitimate request fields', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ fakes, kw, close } = await startFormatGateway());
  });
  afterAll(async () => {
    await close?.();
  });

  const gemini = () => new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });

  describe("Gemini's Part.mediaProcessing (an enum, as @google/genai sends it)", () => {
    const video = {
      fileData: { fileUri: 'https://example.com/clip.mp4', mimeType: 'video/mp4' },
      mediaProcessing: MediaProcessing.AGENTIC,
    };

    it('reaches a Gemini provider as sent, on a part and in a function response', async () => {
      await gemini().models.generateContent({
        model: 'gemini/gemini-test',
        contents: [
          { role: 'user', parts: [video, { text: 'What happens in this video?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'clip', args: {} } }] },
          {
            role: 'user',
            parts: [
              {
                functionResponse: {
                  name: 'clip',
                  response: { output: 'the clip' },
                  parts: [{ ...video, mediaProcessing: MediaProcessing.STATIC }],
                },
              },
            ],
          },
        ],
      });
      const sent = fakes.gemini.requests.at(-1)!.body;
      expect(at(sent, 'contents', 0, 'parts', 0, 'mediaProcessing')).toBe('AGENTIC');
      expect(at(sent, 'contents', 2, 'parts', 0, 'functionResponse', 'parts', 0, 'mediaProcessing')).toBe(
        'STATIC',
      );
    });

    it('is taken in any case and refused when it is no MediaProcessing value', async () => {
      const ai = gemini();
      await ai.models.generateContent({
        model: 'gemini/gemini-test',
        contents: [{ role: 'user', parts: [{ ...video, mediaProcessing: 'agentic' as MediaProcessing }] }],
      });
      expect(at(fakes.gemini.requests.at(-1)!.body, 'contents', 0, 'parts', 0, 'mediaProcessing')).toBe(
        'AGENTIC',
      );
      await expect(
        ai.models.generateContent({
          model: 'gemini/gemini-test',
          contents: [{ role: 'user', parts: [{ ...video, mediaProcessing: { mode: 'AGENTIC' } as never }] }],
        }),
      ).rejects.toMatchObject({ status: 400 });
    });

    it('is dropped for a provider of another format, which has no such setting', async () => {
      await gemini().models.generateContent({
        model: 'anthropic/claude-test',
        contents: [
          {
            role: 'user',
            parts: [
              {
                inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' },
                mediaProcessing: MediaProcessing.AGENTIC,
              },
              { text: 'What is this?' },
            ],
          },
        ],
      });
      const sent = fakes.anthropic.requests.at(-1)!.body;
      expect([
        at(sent, 'messages', 0, 'content', 0, 'type'),
        at(sent, 'messages', 0, 'content', 1, 'type'),
      ]).toEqual(['image', 'text']);
      expect(JSON.stringify(sent)).not.toContain('mediaProcessing');
    });
  });
  describe("OpenAI's allowed_tools tool choice", () => {
    const openai = () => new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${kw.dataUrl}/v1`, maxRetries: 0 });
    const parameters = { type: 'object', properties: {} };
    const responsesTools = [
      { type: 'function' as const, name: 'get_weather', parameters, strict: false },
      { type: 'function' as const, name: 'get_time', parameters, strict: false },
    ];
    const chatTools = responsesTools.map(({ name }) => ({
      type: 'function' as const,
      function: { name, parameters },
    }));
    const responses = (model: string, mode: 'auto' | 'required', tools: Array<Record<string, unknown>>) =>
      openai().responses.create({
        model,
        input: 'Weather in Paris?',
        tools: responsesTools,
        tool_choice: { type: 'allowed_tools', mode, tools },
      });
    const chat = (model: string, mode: 'auto' | 'required') =>
      openai().chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: chatTools,
        tool_choice: {
          type: 'allowed_tools',
          allowed_tools: { mode, tools: [{ type: 'function', function: { name: 'get_weather' } }] },
        },
      });
    const declared = (tools: unknown): unknown[] =>
      (tools as Array<Record<string, unknown>>).map(
        (tool) => at(tool, 'function', 'name') ?? at(tool, 'name'),
      );

    it("reaches an OpenAI provider from the Responses surface as Chat Completions' choice, every tool declared", async () => {
      await responses('openai/gpt-test', 'auto', [{ type: 'function', name: 'get_weather' }]);
      const sent = fakes.openai.requests.at(-1)!.body;
      expect(at(sent, 'tool_choice')).toEqual({
        type: 'allowed_tools',
        allowed_tools: { mode: 'auto', tools: [{ type: 'function', function: { name: 'get_weather' } }] },
      });
      expect(declared(at(sent, 'tools'))).toEqual(['get_weather', 'get_time']);
    });

    it('offers Anthropic and Ollama only the allowed tools, required as a forced call', async () => {
      await chat('anthropic/claude-test', 'required');
      let sent = fakes.anthropic.requests.at(-1)!.body;
      expect(declared(at(sent, 'tools'))).toEqual(['get_weather']);
      expect(at(sent, 'tool_choice')).toEqual({ type: 'any' });
      await responses('anthropic/claude-test', 'auto', [{ type: 'function', name: 'get_weather' }]);
      sent = fakes.anthropic.requests.at(-1)!.body;
      expect(declared(at(sent, 'tools'))).toEqual(['get_weather']);
      expect(at(sent, 'tool_choice')).toEqual({ type: 'auto' });
      await chat('ollama/llama-test', 'auto');
      expect(declared(at(fakes.ollama.requests.at(-1)!.body, 'tools'))).toEqual(['get_weather']);
    });

    it('sends Gemini a required choice as allowedFunctionNames, an automatic one as the allowed tools alone', async () => {
      await chat('gemini/gemini-test', 'required');
      let sent = fakes.gemini.requests.at(-1)!.body;
      expect(at(sent, 'toolConfig', 'functionCallingConfig')).toEqual({
        mode: FunctionCallingConfigMode.ANY,
        allowedFunctionNames: ['get_weather'],
      });
      expect(declared(at(sent, 'tools', 0, 'functionDeclarations'))).toEqual(['get_weather', 'get_time']);
      await responses('gemini/gemini-test', 'auto', [{ type: 'function', name: 'get_weather' }]);
      sent = fakes.gemini.requests.at(-1)!.body;
      expect(at(sent, 'toolConfig', 'functionCallingConfig')).toEqual({
        mode: FunctionCallingConfigMode.AUTO,
      });
      expect(declared(at(sent, 'tools', 0, 'functionDeclarations'))).toEqual(['get_weather']);
    });

    it('refuses an allowed tool the request does not declare, naming it', async () => {
      for (const model of ['openai/gpt-test', 'anthropic/claude-test']) {
        await expect(
          responses(model, 'auto', [{ type: 'function', name: 'get_stock' }]),
        ).rejects.toMatchObject({
          status: 400,
          param: 'tool_choice.tools[0]',
        });
        await expect(responses(model, 'auto', [{ type: 'mcp', server_label: 'docs' }])).rejects.toMatchObject(
          {
            status: 400,
            param: 'tool_choice.tools[0]',
          },
        );
      }
    });

    it('refuses an empty list, which each format would read its own way', async () => {
      const sent = FORMATS.map((format) => fakes[format].requests.length);
      for (const model of [
        'openai/gpt-test',
        'anthropic/claude-test',
        'gemini/gemini-test',
        'ollama/llama-test',
      ])
        await expect(responses(model, 'required', [])).rejects.toMatchObject({
          status: 400,
          code: 'invalid_value',
          param: 'tool_choice.tools',
        });
      // Gemini would read an empty allowedFunctionNames as every function allowed, a call forced.
      await expect(
        openai().chat.completions.create({
          model: 'gemini/gemini-test',
          messages: [{ role: 'user', content: 'Weather in Paris?' }],
          tools: chatTools,
          tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'required', tools: [] } },
        }),
      ).rejects.toMatchObject({ status: 400, param: 'tool_choice.allowed_tools.tools' });
      expect(FORMATS.map((format) => fakes[format].requests.length)).toEqual(sent);
    });
  });
  describe("OpenAI's explicit prompt caching (prompt_cache_options, prompt_cache_breakpoint)", () => {
    const openai = () => new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${kw.dataUrl}/v1`, maxRetries: 0 });
    const breakpoint = { mode: 'explicit' as const };
    const responses = (model: string) =>
      openai().responses.create({
        model,
        prompt_cache_options: { mode: 'explicit', ttl: '30m' },
        input: [
          {
            role: 'developer',
            content: [{ type: 'input_text', text: 'Be brief.', prompt_cache_breakpoint: breakpoint }],
          },
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'A long shared prefix...', prompt_cache_breakpoint: breakpoint },
              { type: 'input_text', text: 'Question' },
            ],
          },
        ],
      });

    it('reaches an OpenAI provider from the Responses surface, each breakpoint on its part', async () => {
      await responses('openai/gpt-test');
      const sent = fakes.openai.requests.at(-1)!.body;
      expect(at(sent, 'prompt_cache_options')).toEqual({ mode: 'explicit', ttl: '30m' });
      expect(at(sent, 'messages')).toEqual([
        {
          role: 'system',
          content: [{ type: 'text', text: 'Be brief.', prompt_cache_breakpoint: breakpoint }],
        },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'A long shared prefix...', prompt_cache_breakpoint: breakpoint },
            { type: 'text', text: 'Question' },
          ],
        },
      ]);
    });

    it('is left out for Anthropic and Gemini, which have no such breakpoint: a hint, not a refusal', async () => {
      await responses('anthropic/claude-test');
      expect(JSON.stringify(fakes.anthropic.requests.at(-1)!.body)).not.toContain('breakpoint');
      await responses('gemini/gemini-test');
      expect(JSON.stringify(fakes.gemini.requests.at(-1)!.body)).not.toContain('breakpoint');
      await openai().chat.completions.create({
        model: 'anthropic/claude-test',
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello.' },
          {
            role: 'user',
            content: [{ type: 'text', text: 'Long prefix', prompt_cache_breakpoint: breakpoint }],
          },
        ],
      });
      expect(JSON.stringify(fakes.anthropic.requests.at(-1)!.body)).not.toContain('breakpoint');
    });

    it('goes without the options where nothing is marked, and without breakpoints to Ollama, which bills nothing', async () => {
      await openai().responses.create({
        model: 'anthropic/claude-test',
        prompt_cache_options: { mode: 'explicit' },
        input: 'Hi',
      });
      expect(at(fakes.anthropic.requests.at(-1)!.body, 'messages', 0, 'content')).toBeDefined();
      await responses('ollama/llama-test');
      expect(JSON.stringify(fakes.ollama.requests.at(-1)!.body)).not.toContain('cache');
    });
  });
});
