import {
  type FunctionCallingConfigMode,
  GoogleGenAI,
  type Modality,
  type ThinkingLevel,
  Type,
} from '@google/genai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * The Gemini surface as clients other than `@google/genai` with its defaults call it: the SDK with
 * `apiVersion: 'v1'`, the Vercel AI SDK (lower-case enum values, `provider/model` paths),
 * LangChain through `@google/generative-ai` (a `system` role on the system instruction), and REST
 * as Google documents it (proto field names, streams as one JSON array).
 */

const HELLO = 'Hello there, how can I help you today?';
const hello = { contents: [{ role: 'user', parts: [{ text: 'hi' }] }] };

describe('Gemini clients beyond the SDK defaults', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let ai: GoogleGenAI;
  let v1: GoogleGenAI;
  const sent = (format: Format) => fakes[format].requests.at(-1)!;
  /** The last body a fake received, to read deep fields from. */
  const bodyAt = (format: Format) => JSON.parse(sent(format).raw);
  type Chunk = {
    candidates?: Array<{ content?: { parts?: Array<{ text?: string }> }; finishReason?: string }>;
    error?: unknown;
  };

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await request(`${kw.dataUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY, ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      text,
      json: text.startsWith('{') ? JSON.parse(text) : undefined,
    };
  };

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: kw.dataUrl } });
    v1 = new GoogleGenAI({ apiKey: CLIENT_KEY, apiVersion: 'v1', httpOptions: { baseUrl: kw.dataUrl } });
    for (const format of FORMATS) fakes[format].script(GREETING);
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  it('takes a system instruction with the role "system", as LangChain sends it', async () => {
    for (const format of ['openai', 'gemini'] as const) {
      const response = await ai.models.generateContent({
        model: `${format}/test-model`,
        contents: 'Say hello',
        config: { systemInstruction: { role: 'system', parts: [{ text: 'Be brief.' }] } },
      });
      expect(response.text, format).toBe(HELLO);
      expect(sent(format).raw, format).toContain('Be brief.');
    }
    expect(sent('gemini').body).toMatchObject({ systemInstruction: { parts: [{ text: 'Be brief.' }] } });
  });

  it('takes enum values in lower case, as the Vercel AI SDK sends them, and forwards them upper case', async () => {
    const low = await ai.models.generateContent({
      model: 'gemini/test-model',
      contents: 'Say hello',
      config: {
        thinkingConfig: { thinkingLevel: 'low' as ThinkingLevel, includeThoughts: true },
        responseModalities: ['text' as Modality],
      },
    });
    expect(low.text).toBe(HELLO);
    expect(sent('gemini').body).toMatchObject({
      generationConfig: { thinkingConfig: { thinkingLevel: 'LOW' }, responseModalities: ['TEXT'] },
    });

    await ai.models.generateContent({
      model: 'openai/test-model',
      contents: 'Weather?',
      config: {
        thinkingConfig: { thinkingLevel: 'high' as ThinkingLevel },
        tools: [{ functionDeclarations: [{ name: 'get_weather', parameters: { type: Type.OBJECT } }] }],
        toolConfig: { functionCallingConfig: { mode: 'any' as FunctionCallingConfigMode } },
      },
    });
    expect(sent('openai').body).toMatchObject({ reasoning_effort: 'high', tool_choice: 'required' });

    await ai.models.embedContent({
      model: 'gemini/embedding-model',
      contents: 'hello',
      config: { taskType: 'retrieval_query' },
    });
    expect(sent('gemini').body).toMatchObject({ requests: [{ taskType: 'RETRIEVAL_QUERY' }] });
  });

  describe('proto field names, as in the ai.google.dev curl examples', () => {
    const pixel =
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const snake = {
      system_instruction: { parts: [{ text: 'Be brief.' }] },
      contents: [
        {
          role: 'user',
          parts: [{ text: 'What is this?' }, { inline_data: { mime_type: 'image/png', data: pixel } }],
        },
        { role: 'model', parts: [{ function_call: { name: 'look_up', args: { snake_arg: 1 } } }] },
        {
          role: 'user',
          parts: [{ function_response: { name: 'look_up', response: { result: { found_it: true } } } }],
        },
      ],
      tools: [
        {
          function_declarations: [
            {
              name: 'look_up',
              parameters: { type: 'OBJECT', properties: { snake_arg: { type: 'INTEGER' } } },
            },
          ],
        },
      ],
      tool_config: { function_calling_config: { mode: 'AUTO', allowed_function_names: ['look_up'] } },
      safety_settings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
      generation_config: {
        max_output_tokens: 100,
        stop_sequences: ['END'],
        thinking_config: { thinking_budget: 512, include_thoughts: true },
        response_mime_type: 'text/plain',
      },
      labels: { cost_center: 'a1' },
    };

    it('passes them to a Gemini provider under their JSON names, free-form objects untouched', async () => {
      const res = await post('/v1beta/models/gemini/test-model:generateContent', snake);
      expect(res.status, res.text).toBe(200);
      expect(res.json.candidates[0].content.parts[0].text).toBe(HELLO);
      const body = bodyAt('gemini');
      expect(body).toMatchObject({
        systemInstruction: { parts: [{ text: 'Be brief.' }] },
        contents: [
          { parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: pixel } }] },
          { parts: [{ functionCall: { name: 'look_up', args: { snake_arg: 1 } } }] },
          { parts: [{ functionResponse: { response: { result: { found_it: true } } } }] },
        ],
        tools: [
          { functionDeclarations: [{ parameters: { properties: { snake_arg: { type: 'INTEGER' } } } }] },
        ],
        toolConfig: { functionCallingConfig: { allowedFunctionNames: ['look_up'] } },
        safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT' }],
        generationConfig: {
          maxOutputTokens: 100,
          stopSequences: ['END'],
          thinkingConfig: { thinkingBudget: 512, includeThoughts: true },
        },
        labels: { cost_center: 'a1' },
      });
      expect(sent('gemini').raw).not.toMatch(/system_instruction|generation_config|inline_data|mime_type/);
    });

    it('translates them for another provider', async () => {
      const res = await post('/v1beta/models/openai/test-model:generateContent', snake);
      expect(res.status, res.text).toBe(200);
      const body = bodyAt('openai');
      expect(body.max_completion_tokens ?? body.max_tokens).toBe(100);
      expect(body.stop).toEqual(['END']);
      expect(sent('openai').raw).toContain('Be brief.');
      expect(sent('openai').raw).toContain(pixel);
      expect(body.tools[0].function.parameters).toMatchObject({
        properties: { snake_arg: { type: 'integer' } },
      });
    });

    it('refuses a field named both ways, naming both', async () => {
      const res = await post('/v1beta/models/gemini/test-model:generateContent', {
        ...hello,
        generation_config: { temperature: 1 },
        generationConfig: { temperature: 0.5 },
      });
      expect(res.status).toBe(400);
      expect(res.json.error.status).toBe('INVALID_ARGUMENT');
      expect(res.json.error.message).toContain('generation_config and generationConfig');
    });

    it('takes them in countTokens and embeddings too', async () => {
      const counted = await post('/v1beta/models/openai/test-model:countTokens', {
        generate_content_request: { ...hello, system_instruction: { parts: [{ text: 'Be brief.' }] } },
      });
      expect(counted.status, counted.text).toBe(200);
      expect(counted.json.totalTokens).toBeGreaterThan(0);
      const embedded = await post('/v1beta/models/gemini/embedding-model:embedContent', {
        content: { parts: [{ text: 'hello' }] },
        task_type: 'retrieval_document',
        output_dimensionality: 8,
      });
      expect(embedded.status, embedded.text).toBe(200);
      expect(sent('gemini').body).toMatchObject({ taskType: 'RETRIEVAL_DOCUMENT', outputDimensionality: 8 });
    });
  });

  describe("the SDK's apiVersion 'v1'", () => {
    it('generates, streams, counts and embeds under /v1/models/', async () => {
      for (const format of ['openai', 'gemini'] as const) {
        const model = `${format}/test-model`;
        expect((await v1.models.generateContent({ model, contents: 'Say hello' })).text, format).toBe(HELLO);
        let streamed = '';
        for await (const chunk of await v1.models.generateContentStream({ model, contents: 'Say hello' }))
          streamed += chunk.text ?? '';
        expect(streamed, format).toBe(HELLO);
        expect((await v1.models.countTokens({ model, contents: 'How many?' })).totalTokens).toBeGreaterThan(
          0,
        );
        const embedded = await v1.models.embedContent({
          model: `${format}/embedding-model`,
          contents: ['a', 'b'],
        });
        expect(embedded.embeddings, format).toHaveLength(2);
      }
    });

    it("lists models in Gemini's shape for a Gemini client, in OpenAI's for a Bearer one", async () => {
      const names: string[] = [];
      for await (const model of await v1.models.list()) names.push(model.name ?? '');
      expect(names.some((name) => name.startsWith('models/openai/'))).toBe(true);
      const openai = await request(`${kw.dataUrl}/v1/models`, {
        headers: { authorization: `Bearer ${CLIENT_KEY}` },
      });
      expect(await openai.body.json()).toMatchObject({ object: 'list', data: expect.any(Array) });
    });

    it("answers errors in Google's envelope, and leaves other /v1 routes as they were", async () => {
      const unknown = await post('/v1/models/openai/x:generateContent', { ...hello, candidates: 2 });
      expect(unknown.status).toBe(400);
      expect(unknown.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
      expect(unknown.json.error.message).toContain('candidates');

      const bad = new GoogleGenAI({
        apiKey: 'kw_wrong',
        apiVersion: 'v1',
        httpOptions: { baseUrl: kw.dataUrl },
      });
      await expect(bad.models.generateContent({ model: 'openai/x', contents: 'hi' })).rejects.toMatchObject({
        status: 401,
      });
      const unauthenticated = await post('/v1/models/openai/x:generateContent', hello, {
        'x-goog-api-key': 'kw_wrong',
      });
      expect(unauthenticated.json.error).toMatchObject({ code: 401, status: 'UNAUTHENTICATED' });
      const listRefused = await request(`${kw.dataUrl}/v1/models`, {
        headers: { 'x-goog-api-key': 'kw_wrong' },
      });
      expect(await listRefused.body.json()).toMatchObject({
        error: { code: 401, status: 'UNAUTHENTICATED' },
      });

      const elsewhere = await post('/v1/nothing/here', hello, { authorization: `Bearer ${CLIENT_KEY}` });
      expect(elsewhere.status).toBe(404);
      expect(elsewhere.json.error).toMatchObject({ type: 'not_found_error', code: 'unknown_route' });
    });
  });

  describe('provider/model names straight under the version (the Vercel AI SDK)', () => {
    it('serves /v1beta/{provider}/{model}:{method} and /v1/ alike', async () => {
      for (const version of ['v1beta', 'v1']) {
        const res = await post(`/${version}/openai/gpt-4o:generateContent`, hello);
        expect(res.status, res.text).toBe(200);
        expect(res.json.candidates[0].content.parts[0].text).toBe(HELLO);
        expect(sent('openai').body).toMatchObject({ model: 'gpt-4o' });
        const streamed = await post(`/${version}/gemini/gemini-x:streamGenerateContent?alt=sse`, hello);
        expect(streamed.status, streamed.text).toBe(200);
        expect(streamed.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        expect(sent('gemini').path).toContain('/models/gemini-x:streamGenerateContent');
      }
    });

    it("keeps Google's own collections and other paths unknown", async () => {
      for (const path of [
        '/v1beta/files/abc:generateContent',
        '/v1beta/cachedContents/abc:generateContent',
        '/v1beta/openai-gpt:generateContent',
        '/v1/files/abc:generateContent',
      ]) {
        const res = await post(path, hello);
        expect(res.status, path).toBe(404);
        expect(res.json.error.code ?? res.json.error.type, path).toBeTruthy();
      }
      const unknownMethod = await post('/v1beta/openai/gpt-4o:generateImages', hello);
      expect(unknownMethod.status).toBe(404);
      expect(unknownMethod.json.error.status).toBe('NOT_FOUND');
    });
  });

  it("turns @google/genai's string counts and OpenAPI keywords into JSON Schema for other providers only", async () => {
    const responseSchema = {
      type: Type.ARRAY,
      minItems: '1',
      maxItems: '3',
      items: {
        type: Type.OBJECT,
        nullable: true,
        properties: {
          tag: { type: Type.STRING, maxLength: '20', example: 'red', format: 'enum', enum: ['red', 'blue'] },
          size: { type: Type.NUMBER, format: 'double' },
        },
        propertyOrdering: ['tag', 'size'],
        minProperties: '1',
      },
    };
    const config = {
      responseMimeType: 'application/json',
      responseSchema,
      tools: [
        {
          functionDeclarations: [
            {
              name: 'f',
              parameters: {
                type: Type.OBJECT,
                properties: { tags: { type: Type.ARRAY, minItems: '1', items: { type: Type.STRING } } },
              },
            },
          ],
        },
      ],
    };
    await ai.models.generateContent({ model: 'openai/test-model', contents: 'List', config });
    const body = bodyAt('openai');
    expect(body.response_format.json_schema.schema).toEqual({
      type: 'array',
      minItems: 1,
      maxItems: 3,
      items: {
        type: ['object', 'null'],
        properties: {
          tag: { type: 'string', maxLength: 20, examples: ['red'], enum: ['red', 'blue'] },
          size: { type: 'number' },
        },
        minProperties: 1,
      },
    });
    expect(body.tools[0].function.parameters.properties.tags.minItems).toBe(1);

    await ai.models.generateContent({ model: 'gemini/test-model', contents: 'List', config });
    expect(sent('gemini').body).toMatchObject({
      generationConfig: {
        responseSchema: { minItems: '1', items: { nullable: true, propertyOrdering: ['tag', 'size'] } },
      },
    });
  });

  it('takes a schema written with proto field names, its property names as sent', async () => {
    const responseSchema = {
      type: 'OBJECT',
      properties: {
        a: { any_of: [{ type: 'STRING' }, { type: 'INTEGER', format: 'int64' }], nullable: true },
        min_items: {
          type: 'ARRAY',
          items: { type: 'STRING', max_length: '8' },
          min_items: '1',
          max_items: '3',
        },
      },
      property_ordering: ['a', 'min_items'],
    };
    const parameters = { type: 'OBJECT', properties: { tags: { type: 'ARRAY', min_items: '1' } } };
    const body = {
      ...hello,
      tools: [{ function_declarations: [{ name: 'f', parameters }] }],
      generation_config: { response_mime_type: 'application/json', response_schema: responseSchema },
    };
    const translated = await post('/v1beta/models/openai/test-model:generateContent', body);
    expect(translated.status, translated.text).toBe(200);
    expect(bodyAt('openai').response_format.json_schema.schema).toEqual({
      type: 'object',
      properties: {
        a: { anyOf: [{ type: 'string' }, { type: 'integer' }, { type: 'null' }] },
        min_items: { type: 'array', items: { type: 'string', maxLength: 8 }, minItems: 1, maxItems: 3 },
      },
    });
    expect(bodyAt('openai').tools[0].function.parameters.properties.tags.minItems).toBe(1);

    const native = await post('/v1beta/models/gemini/test-model:generateContent', body);
    expect(native.status, native.text).toBe(200);
    expect(bodyAt('gemini').generationConfig.responseSchema).toEqual({
      type: 'OBJECT',
      properties: {
        a: { anyOf: [{ type: 'STRING' }, { type: 'INTEGER', format: 'int64' }], nullable: true },
        min_items: { type: 'ARRAY', items: { type: 'STRING', maxLength: '8' }, minItems: '1', maxItems: '3' },
      },
      propertyOrdering: ['a', 'min_items'],
    });

    const twice = await post('/v1beta/models/gemini/test-model:generateContent', {
      ...hello,
      generationConfig: {
        responseMimeType: 'application/json',
        responseSchema: { type: 'ARRAY', minItems: '1', min_items: '2' },
      },
    });
    expect(twice.status).toBe(400);
    expect(twice.json.error.message).toContain(
      'generationConfig.responseSchema.min_items and generationConfig.responseSchema.minItems',
    );
  });

  describe('streamGenerateContent without alt=sse', () => {
    for (const format of ['openai', 'gemini'] as const) {
      it(`streams one JSON array of chunks from a ${format}-format provider`, async () => {
        const res = await post(`/v1beta/models/${format}/test-model:streamGenerateContent`, hello);
        expect(res.status, res.text).toBe(200);
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(res.text.startsWith('[')).toBe(true);
        expect(res.text).toContain('},\r\n{');
        const chunks: Chunk[] = JSON.parse(res.text);
        expect(chunks.length).toBeGreaterThan(1);
        const text = chunks.map((chunk) => chunk.candidates?.[0]?.content?.parts?.[0]?.text ?? '').join('');
        expect(text).toBe(HELLO);
        expect(chunks.at(-1)!.candidates?.[0]?.finishReason).toBe('STOP');
      });

      it(`ends a cut ${format} stream with an error element, the array still whole`, async () => {
        fakes[format].script({ ...GREETING, chunkSize: 2, fault: { kind: 'cut', afterEvents: 6 } });
        try {
          const res = await post(`/v1beta/models/${format}/test-model:streamGenerateContent?alt=json`, hello);
          const chunks = JSON.parse(res.text);
          expect(chunks.at(-1)!.error).toMatchObject({ status: expect.any(String) });
          expect(chunks.length).toBeGreaterThan(1);
        } finally {
          fakes[format].script(GREETING);
        }
      });
    }

    it('refuses an encoding it does not serve, naming alt', async () => {
      const res = await post('/v1beta/models/openai/test-model:streamGenerateContent?alt=proto', hello);
      expect(res.status).toBe(400);
      expect(res.json.error.message).toContain('alt');
    });
  });

  it('refuses a YouTube fileData, which only Gemini reads, for other providers, naming it; passes it to Gemini', async () => {
    const video = {
      contents: [
        {
          role: 'user',
          parts: [
            { fileData: { fileUri: 'https://www.youtube.com/watch?v=9hE5-98ZeCg' } },
            { text: 'Sum up' },
          ],
        },
      ],
    };
    const refused = await post('/v1beta/models/openai/test-model:generateContent', video);
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toContain('a file reference only Gemini reads');
    expect(refused.json.error.details).toContainEqual(
      expect.objectContaining({
        fieldViolations: [expect.objectContaining({ field: 'contents[0].parts[0]' })],
      }),
    );
    // Any other address without a type is read by no provider.
    const untyped = structuredClone(video);
    untyped.contents[0]!.parts[0] = { fileData: { fileUri: 'https://example.com/clip' } };
    const unread = await post('/v1beta/models/openai/test-model:generateContent', untyped);
    expect(unread.status).toBe(400);
    expect(unread.json.error.message).toContain('mimeType');
    expect(unread.json.error.details).toContainEqual(
      expect.objectContaining({
        fieldViolations: [expect.objectContaining({ field: 'contents[0].parts[0].fileData' })],
      }),
    );
    const native = await post('/v1beta/models/gemini/test-model:generateContent', video);
    expect(native.status, native.text).toBe(200);
    expect(sent('gemini').raw).toContain('youtube.com');
  });
});
