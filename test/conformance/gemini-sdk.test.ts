import { type Content, type FunctionCall, FunctionCallingConfigMode, GoogleGenAI, Type } from '@google/genai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING, WEATHER_ANSWER, WEATHER_CALL, WEATHER_JSON } from '../support/weather-scripts.js';

/**
 * The official `@google/genai` SDK through Keyward's Gemini surface (`/v1beta`) to fake providers
 * of every format: text, streams, function calling with the result sent back (streamed too), JSON
 * schema output, token counting and embeddings; and the surface's own rules (the key in the
 * header only, Google's error envelope, scopes, strict bodies, usage).
 */

const [TEXT, TOOL_CALL, AFTER_TOOL, JSON_ANSWER] = [GREETING, WEATHER_CALL, WEATHER_ANSWER, WEATHER_JSON];

/** Two calls at once, streamed by every format in chunks of their own. */
const TWO_CALLS: Script = {
  blocks: [
    { type: 'tool_call', id: 'call_paris', name: 'get_weather', arguments: { city: 'Paris' } },
    { type: 'tool_call', id: 'call_rome', name: 'get_weather', arguments: { city: 'Rome' } },
  ],
  stop: 'tool_use',
  usage: { input: 60, output: 30 },
};

const weatherTool = {
  functionDeclarations: [
    {
      name: 'get_weather',
      description: 'The weather in a city',
      parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
    },
  ],
};

describe('@google/genai through Keyward, every provider format', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let ai: GoogleGenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway({ KEYWARD_ADMIN_KEY: ADMIN_KEY }));
    ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  for (const format of FORMATS) {
    const model = `${format}/test-model`;
    const upstream = () => fakes[format].requests.at(-1)!;

    describe(`to ${format}`, () => {
      it('answers text with the usage, the system instruction reaching the provider', async () => {
        fakes[format].script(TEXT);
        const response = await ai.models.generateContent({
          model,
          contents: 'Say hello',
          config: { systemInstruction: 'Be brief.', maxOutputTokens: 100, temperature: 0.3 },
        });
        expect(response.text).toBe('Hello there, how can I help you today?');
        expect(response.candidates?.[0]?.finishReason).toBe('STOP');
        expect(response.usageMetadata).toMatchObject({ promptTokenCount: 21, totalTokenCount: 30 });
        expect(upstream().raw).toContain('Be brief.');
        expect(upstream().raw).toContain('Say hello');
        expect(upstream().headers['x-goog-api-key'] ?? upstream().headers.authorization ?? '').not.toContain(
          CLIENT_KEY,
        );
      });

      it('streams text in pieces that add up to the answer', async () => {
        fakes[format].script(TEXT);
        const stream = await ai.models.generateContentStream({ model, contents: 'Say hello' });
        const pieces: string[] = [];
        let finish: string | undefined;
        for await (const chunk of stream) {
          if (chunk.text) pieces.push(chunk.text);
          finish = chunk.candidates?.[0]?.finishReason ?? finish;
        }
        expect(pieces.join('')).toBe('Hello there, how can I help you today?');
        expect(pieces.length).toBeGreaterThan(1);
        expect(finish).toBe('STOP');
      });

      for (const streamed of [false, true]) {
        it(`calls a function and takes its result back (${streamed ? 'streamed' : 'not streamed'})`, async () => {
          fakes[format].script(TOOL_CALL, AFTER_TOOL);
          const contents: Content[] = [{ role: 'user', parts: [{ text: 'Weather in Paris?' }] }];
          const config = {
            tools: [weatherTool],
            toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.AUTO } },
          };
          let call: { name?: string; args?: Record<string, unknown>; id?: string } | undefined;
          let modelTurn: Content | undefined;
          if (streamed) {
            for await (const chunk of await ai.models.generateContentStream({ model, contents, config })) {
              call ??= chunk.functionCalls?.[0];
              if (chunk.functionCalls?.length) modelTurn = chunk.candidates?.[0]?.content;
            }
          } else {
            const first = await ai.models.generateContent({ model, contents, config });
            call = first.functionCalls?.[0];
            modelTurn = first.candidates?.[0]?.content;
          }
          expect(call).toMatchObject({ name: 'get_weather', args: { city: 'Paris' } });
          expect(upstream().raw).toContain('get_weather');

          const second = await ai.models.generateContent({
            model,
            contents: [
              ...contents,
              modelTurn!,
              {
                role: 'user',
                parts: [
                  { functionResponse: { id: call!.id, name: 'get_weather', response: { temperature: 21 } } },
                ],
              },
            ],
            config,
          });
          expect(second.text).toBe('It is 21 degrees in Paris.');
          expect(upstream().raw).toContain('21');
        });
      }

      it("keeps a streamed turn one turn through the SDK's chat, its calls right before their results", async () => {
        fakes[format].script(TWO_CALLS, AFTER_TOOL);
        // The chat keeps each streamed chunk as a model content of its own and sends them all back.
        const chat = ai.chats.create({ model, config: { tools: [weatherTool] } });
        const calls: FunctionCall[] = [];
        for await (const chunk of await chat.sendMessageStream({ message: 'Weather in Paris and Rome?' }))
          calls.push(...(chunk.functionCalls ?? []));
        expect(calls.map((call) => call.args)).toEqual([{ city: 'Paris' }, { city: 'Rome' }]);
        expect(chat.getHistory().filter((content) => content.role === 'model').length).toBeGreaterThan(1);

        const second = await chat.sendMessage({
          message: calls.map((call) => ({
            functionResponse: {
              id: call.id,
              name: call.name,
              response: { output: `21 in ${call.args?.city}` },
            },
          })),
        });
        expect(second.text).toBe('It is 21 degrees in Paris.');
        expect(upstream().raw).toContain('21 in Rome');
        if (format === 'openai') {
          const sent = upstream().body as { messages: Array<{ role: string }> };
          expect(sent.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'tool', 'tool']);
        }
      });

      it('raises a stream the provider cuts mid-way as an error, never a clean finish', async () => {
        fakes[format].script({ ...TEXT, chunkSize: 2, fault: { kind: 'cut', afterEvents: 6 } });
        const stream = await ai.models.generateContentStream({ model, contents: 'Say hello' });
        const pieces: string[] = [];
        await expect(
          (async () => {
            for await (const chunk of stream) pieces.push(chunk.text ?? '');
          })(),
        ).rejects.toThrow(/ended before it finished; the answer is incomplete/);
        expect(pieces.join('')).not.toBe('');
        expect(pieces.join('')).not.toBe('Hello there, how can I help you today?');
      });

      it('asks for JSON schema output', async () => {
        fakes[format].script(JSON_ANSWER);
        const response = await ai.models.generateContent({
          model,
          contents: 'Weather in Paris as JSON',
          config: {
            responseMimeType: 'application/json',
            responseJsonSchema: {
              type: 'object',
              properties: { city: { type: 'string' }, temperature: { type: 'number' } },
              required: ['city', 'temperature'],
            },
          },
        });
        expect(JSON.parse(response.text ?? '')).toEqual({ city: 'Paris', temperature: 21 });
        expect(upstream().raw).toContain('temperature');
      });

      it('counts tokens', async () => {
        fakes[format].script(TEXT);
        const counted = await ai.models.countTokens({ model, contents: 'How many tokens is this?' });
        expect(counted.totalTokens).toBeGreaterThan(0);
      });
    });
  }

  for (const format of ['openai', 'gemini', 'ollama'] as const) {
    it(`embeds one text and a batch through a ${format}-format provider`, async () => {
      const model = `${format}/embedding-model`;
      const one = await ai.models.embedContent({ model, contents: 'hello' });
      expect(one.embeddings).toHaveLength(1);
      expect(one.embeddings?.[0]?.values?.length).toBeGreaterThan(0);
      const batch = await ai.models.embedContent({
        model,
        contents: ['one', 'two', 'three'],
        config: { outputDimensionality: 8 },
      });
      expect(batch.embeddings).toHaveLength(3);
      expect(batch.embeddings?.every((e) => (e.values?.length ?? 0) > 0)).toBe(true);
      expect(fakes[format].requests.at(-1)!.raw).toContain('three');
      // Gemini names the size outputDimensionality; the other formats, dimensions.
      expect(fakes[format].requests.at(-1)!.raw).toMatch(/"(outputDimensionality|dimensions)":8/);
    });
  }

  it('passes taskType and title on to a Gemini provider', async () => {
    await ai.models.embedContent({
      model: 'gemini/embedding-model',
      contents: 'hello',
      config: { taskType: 'RETRIEVAL_DOCUMENT', title: 'Greeting' },
    });
    expect(fakes.gemini.requests.at(-1)!.body).toMatchObject({
      requests: [
        { taskType: 'RETRIEVAL_DOCUMENT', title: 'Greeting', content: { parts: [{ text: 'hello' }] } },
      ],
    });
  });

  it('lists models the credential may use', async () => {
    const names: string[] = [];
    for await (const model of await ai.models.list()) names.push(model.name ?? '');
    expect(names.some((name) => name.startsWith('models/openai/'))).toBe(true);
    expect(names.some((name) => name.startsWith('models/gemini/'))).toBe(true);
  });

  describe('the surface', () => {
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
      const res = await request(`${kw.dataUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY, ...headers },
        body: JSON.stringify(body),
      });
      const text = await res.body.text();
      return { status: res.statusCode, json: JSON.parse(text), text };
    };
    const hello = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

    it('refuses the key in the query string, naming the header to use', async () => {
      const res = await request(`${kw.dataUrl}/v1beta/models/openai/x:generateContent?key=${CLIENT_KEY}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(hello),
      });
      const body = (await res.body.json()) as { error: { code: number; status: string; message: string } };
      expect(res.statusCode).toBe(400);
      expect(body.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      expect(body.error.message).toContain('x-goog-api-key');
    });

    it("answers in Google's error envelope, which the SDK raises with its status", async () => {
      const bad = new GoogleGenAI({ apiKey: 'kw_wrong', httpOptions: { baseUrl: kw.dataUrl } });
      await expect(bad.models.generateContent({ model: 'openai/x', contents: 'hi' })).rejects.toMatchObject({
        status: 401,
      });
      const unknown = await post('/v1beta/models/openai/x:generateContent', { ...hello, candidates: 2 });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      expect(unknown.json.error.message).toContain('candidates');
      const method = await post('/v1beta/models/openai/x:generateImages', hello);
      expect(method.status).toBe(404);
      expect(method.json.error.status).toBe('NOT_FOUND');
    });

    it('refuses what only Gemini can do for other providers, naming the field', async () => {
      const search = await post('/v1beta/models/openai/x:generateContent', {
        ...hello,
        tools: [{ googleSearch: {} }],
      });
      expect(search.status).toBe(400);
      expect(search.json.error.message).toContain('googleSearch');
      fakes.gemini.script(TEXT);
      const native = await post('/v1beta/models/gemini/x:generateContent', {
        ...hello,
        tools: [{ googleSearch: {} }],
      });
      expect(native.status).toBe(200);
      expect(fakes.gemini.requests.at(-1)!.body).toMatchObject({ tools: [{ googleSearch: {} }] });

      // What @google/genai sends for server-side tool invocations and resumed answers.
      const serverSide = {
        contents: [
          { role: 'user', parts: [{ text: 'Search the news' }] },
          {
            role: 'model',
            parts: [{ toolCall: { id: 't1', toolType: 'GOOGLE_SEARCH_WEB', args: { queries: ['news'] } } }],
          },
          {
            role: 'user',
            parts: [{ toolResponse: { id: 't1', toolType: 'GOOGLE_SEARCH_WEB', response: {} } }],
          },
        ],
        tools: [{ googleSearch: {} }],
        toolConfig: { includeServerSideToolInvocations: true },
        generationConfig: { audioTranscriptionConfig: {} },
        store: false,
        continuationToken: 'ct-1',
      };
      fakes.gemini.script(TEXT);
      const passed = await post('/v1beta/models/gemini/x:generateContent', serverSide);
      expect(passed.status).toBe(200);
      expect(fakes.gemini.requests.at(-1)!.body).toMatchObject({
        toolConfig: { includeServerSideToolInvocations: true },
        continuationToken: 'ct-1',
      });
      for (const [field, body] of [
        ['continuationToken', { ...hello, continuationToken: 'ct-1' }],
        ['audioTranscriptionConfig', { ...hello, generationConfig: { audioTranscriptionConfig: {} } }],
        ['contents[1].parts[0]', { contents: serverSide.contents }],
      ] as const) {
        const refused = await post('/v1beta/models/openai/x:generateContent', body);
        expect(refused.status, field).toBe(400);
        expect(refused.text, field).toContain(field);
      }
    });

    it('keeps what a translated request asks for, or refuses it: allowed functions, enum output, function images', async () => {
      const declare = (name: string) => ({ name, parameters: { type: 'OBJECT', properties: {} } });
      fakes.openai.script(TEXT);
      const narrowed = await post('/v1beta/models/openai/x:generateContent', {
        ...hello,
        tools: [{ functionDeclarations: [declare('get_weather'), declare('get_time'), declare('launch')] }],
        toolConfig: {
          functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather', 'get_time'] },
        },
      });
      expect(narrowed.status).toBe(200);
      const sent = fakes.openai.requests.at(-1)!.body as { tools: Array<{ function: { name: string } }> };
      expect(sent.tools.map((tool) => tool.function.name)).toEqual(['get_weather', 'get_time']);
      expect(sent).toMatchObject({ tool_choice: 'required' });

      const stranger = await post('/v1beta/models/openai/x:generateContent', {
        ...hello,
        tools: [{ functionDeclarations: [declare('get_weather')] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['launch'] } },
      });
      expect(stranger.status).toBe(400);
      expect(stranger.json.error.message).toContain('allowedFunctionNames');

      const enumOutput = await post('/v1beta/models/openai/x:generateContent', {
        ...hello,
        generationConfig: {
          responseMimeType: 'text/x.enum',
          responseSchema: { type: 'STRING', enum: ['a', 'b'] },
        },
      });
      expect(enumOutput.status).toBe(400);
      expect(enumOutput.json.error.message).toContain('responseMimeType');

      fakes.anthropic.script(TEXT);
      const pixel =
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
      const imaged = await post('/v1beta/models/anthropic/x:generateContent', {
        contents: [
          { role: 'user', parts: [{ text: 'Draw me the chart' }] },
          { role: 'model', parts: [{ functionCall: { name: 'chart', args: {} } }] },
          {
            role: 'user',
            parts: [
              {
                functionResponse: {
                  name: 'chart',
                  response: { result: 'see the image' },
                  parts: [{ inlineData: { mimeType: 'image/png', data: pixel } }],
                },
              },
            ],
          },
        ],
        tools: [{ functionDeclarations: [declare('chart')] }],
      });
      expect(imaged.status).toBe(200);
      expect(fakes.anthropic.requests.at(-1)!.raw).toContain(pixel);
    });

    it('sends the same history to another provider as the same bytes, calls without ids included', async () => {
      const history = {
        contents: [
          { role: 'user', parts: [{ text: 'Weather in Paris?' }] },
          { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }] },
          { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { result: 21 } } }] },
        ],
        tools: [weatherTool],
      };
      const sent: string[] = [];
      for (let i = 0; i < 2; i++) {
        fakes.openai.script(TEXT);
        expect((await post('/v1beta/models/openai/x:generateContent', history)).status).toBe(200);
        sent.push(fakes.openai.requests.at(-1)!.raw);
      }
      expect(sent[1]).toBe(sent[0]);
    });

    it('names a setting another format refuses as the client sent it, in the message too', async () => {
      for (const [field, generationConfig] of [
        [
          'generationConfig.maxOutputTokens',
          { maxOutputTokens: 1000, thinkingConfig: { thinkingBudget: 2048 } },
        ],
        ['generationConfig.seed', { seed: 7 }],
        ['generationConfig.temperature', { temperature: 1.5 }],
      ] as const) {
        const refused = await post('/v1beta/models/anthropic/x:generateContent', {
          ...hello,
          generationConfig,
        });
        expect(refused.status, field).toBe(400);
        expect(refused.json.error.details[1].fieldViolations[0].field).toBe(field);
        expect(refused.json.error.message).not.toMatch(/max_tokens/);
      }
    });

    it('holds the request to the ceilings and a token to its scopes', async () => {
      const over = await post('/v1beta/models/openai/x:generateContent', {
        ...hello,
        generationConfig: { maxOutputTokens: 10_000_000 },
      });
      expect(over.status).toBe(400);
      expect(over.json.error.details[0].reason).toBe('max_tokens_exceeded');
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
        name: 'emb',
        scopes: ['embeddings'],
      });
      const scoped = await post('/v1beta/models/openai/x:generateContent', hello, {
        'x-goog-api-key': minted.json.token,
      });
      expect(scoped.status).toBe(403);
      expect(scoped.json.error.status).toBe('PERMISSION_DENIED');
    });

    it('records usage under the model asked for', async () => {
      const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'usage-gemini' });
      fakes.anthropic.script(TEXT);
      const ok = await post('/v1beta/models/anthropic/claude-x:generateContent', hello, {
        'x-goog-api-key': minted.json.token,
      });
      expect(ok.status).toBe(200);
      await expect
        .poll(
          async () =>
            (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=model&tokenId=${minted.json.id}`)).json,
          { timeout: 5000 },
        )
        .toMatchObject({
          rows: [
            expect.objectContaining({
              group: 'anthropic/claude-x',
              requests: 1,
              inputTokens: 21,
              outputTokens: 9,
            }),
          ],
        });
    });
  });
});
