import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { startTestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A strict tool (`strict: true`: the client asks that the model's calls hold to the schema) on a
 * translated route to Gemini or Ollama. Gemini holds calls to their schemas in its `VALIDATED`
 * mode (and in `ANY`, which a forced call already sends), so a strict tool with the model free to
 * answer goes with `VALIDATED`. Ollama cannot hold a call to a schema at all: the request is
 * refused naming the client's `strict` and the provider, and nothing is sent.
 */

let setup: FormatGateway;
let anthropic: Anthropic;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
  anthropic = new Anthropic({ baseURL: setup.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

type Json = Record<string, unknown>;

const schema = {
  type: 'object' as const,
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
  required: ['city'],
};

const ask = (model: string, strict: boolean | undefined, tool_choice?: Anthropic.ToolChoice) =>
  anthropic.messages.create({
    model,
    max_tokens: 100,
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    tools: [
      { name: 'other', input_schema: { type: 'object', properties: {} } },
      { name: 'weather', input_schema: schema, ...(strict !== undefined && { strict }) },
    ],
    ...(tool_choice && { tool_choice }),
  });

const sentGemini = () => setup.fakes.gemini.requests.at(-1)!.body as Json;

describe('a strict tool at a Gemini model', () => {
  const MODEL = 'gemini/gemini-2.5-flash';

  it('holds calls to their schemas: VALIDATED where the model may answer in text', async () => {
    await ask(MODEL, true);
    expect(sentGemini().toolConfig).toEqual({ functionCallingConfig: { mode: 'VALIDATED' } });
    await ask(MODEL, true, { type: 'auto' });
    expect(sentGemini().toolConfig).toEqual({ functionCallingConfig: { mode: 'VALIDATED' } });
  });

  it('keeps a forced call ANY, which holds it to its schema too', async () => {
    await ask(MODEL, true, { type: 'any' });
    expect(sentGemini().toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    await ask(MODEL, true, { type: 'tool', name: 'weather' });
    expect(sentGemini().toolConfig).toEqual({
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['weather'] },
    });
    await ask(MODEL, true, { type: 'none' });
    expect(sentGemini().toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } });
  });

  it('is not asked for without strict', async () => {
    for (const strict of [undefined, false]) {
      await ask(MODEL, strict);
      expect(sentGemini().toolConfig).toBeUndefined();
      await ask(MODEL, strict, { type: 'auto' });
      expect(sentGemini().toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    }
  });
});

describe('a strict tool at an Ollama model', () => {
  const MODEL = 'ollama/llama3.2';

  const refusal = async <T>(call: Promise<T>): Promise<unknown> => {
    const before = setup.fakes.ollama.requests.length;
    const refused = await call.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(setup.fakes.ollama.requests.length).toBe(before);
    return refused;
  };

  it("is refused for an Anthropic client, naming the tool's strict and Ollama", async () => {
    const refused = await refusal(ask(MODEL, true));
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    const { message } = refused as InstanceType<typeof Anthropic.BadRequestError>;
    expect(message).toContain('tools.1.strict');
    expect(message).toContain("'weather'");
    expect(message).toContain('Ollama');
  });

  it('is refused for Chat Completions and Responses clients at their strict', async () => {
    const chat = (await refusal(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ type: 'function', function: { name: 'weather', parameters: schema, strict: true } }],
      }),
    )) as InstanceType<typeof OpenAI.APIError>;
    expect(chat.status).toBe(400);
    expect(chat.code).toBe('unsupported_for_provider');
    expect(chat.param).toBe('tools[0].function.strict');
    const responses = (await refusal(
      openai.responses.create({
        model: MODEL,
        input: 'Weather in Paris?',
        tools: [{ type: 'function', name: 'weather', parameters: schema, strict: true }],
      }),
    )) as InstanceType<typeof OpenAI.APIError>;
    expect(responses.status).toBe(400);
    expect(responses.param).toBe('tools[0].strict');
  });

  it('goes as before without strict, or where the tools are left out', async () => {
    await ask(MODEL, false);
    expect((setup.fakes.ollama.requests.at(-1)!.body as Json).tools).toHaveLength(2);
    // Only the named tool is sent, and it is not strict.
    await ask(MODEL, true, { type: 'tool', name: 'other' });
    expect((setup.fakes.ollama.requests.at(-1)!.body as Json).tools).toHaveLength(1);
    await ask(MODEL, true, { type: 'none' });
    expect((setup.fakes.ollama.requests.at(-1)!.body as Json).tools).toBeUndefined();
    // A Responses function tool without strict is strict only where it can be: not here.
    await openai.responses.create({
      model: MODEL,
      input: 'Weather in Paris?',
      tools: [{ type: 'function', name: 'weather', parameters: schema, strict: null }],
    });
    expect((setup.fakes.ollama.requests.at(-1)!.body as Json).tools).toHaveLength(1);
  });
});

describe('a strict tool no target of its route can carry', () => {
  it("is refused naming each target's reason, and nothing is sent", async () => {
    const kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: (['ollama', 'openai'] as const).map((format) => ({
          id: format,
          type: format,
          baseUrl: setup.fakes[format].baseUrl,
          ...(format !== 'ollama' && { keys: { env: 'PROVIDER_KEY' } }),
        })),
        models: [
          {
            name: 'local-then-openai',
            provider: 'ollama',
            model: 'llama3.2',
            fallbacks: [{ provider: 'openai', model: 'gpt-4o' }],
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    try {
      const client = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
      const sent = [setup.fakes.ollama.requests.length, setup.fakes.openai.requests.length];
      // `days` is optional: outside OpenAI's strict subset, so the fallback cannot hold it either.
      const refused = await client.messages
        .create({
          model: 'local-then-openai',
          max_tokens: 100,
          messages: [{ role: 'user', content: 'Weather in Paris?' }],
          tools: [{ name: 'weather', input_schema: schema, strict: true }],
        })
        .then(
          () => expect.unreachable('no target can carry a strict tool of this schema'),
          (error: unknown) => error,
        );
      expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
      const { message } = refused as InstanceType<typeof Anthropic.BadRequestError>;
      expect(message).toContain('Ollama cannot');
      expect(message).toContain(
        "The route's other targets cannot carry the request either: provider 'openai'",
      );
      expect([setup.fakes.ollama.requests.length, setup.fakes.openai.requests.length]).toEqual(sent);
    } finally {
      await kw.close();
    }
  });
});
