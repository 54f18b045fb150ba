import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, Type } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Anthropic's structured outputs and Gemini's response schema constrain decoding to the schema;
 * OpenAI does so only with `strict: true` (its default is false, the schema then a hint). A schema
 * from those clients goes to an OpenAI-format provider strict where it fits OpenAI's strict subset
 * (closed objects, every property required, its keywords only), narrowed to fit where that keeps
 * every answer one the client's schema takes, and otherwise as a hint, as before.
 */

const MODEL = 'openai/gpt-4o-mini';

let setup: FormatGateway;
let anthropic: Anthropic;
let gemini: GoogleGenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  anthropic = new Anthropic({ baseURL: setup.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  gemini = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
});
afterAll(() => setup?.close());

type Json = Record<string, unknown>;

/** The response_format the OpenAI fake was sent last. */
const sentFormat = (): Json => (setup.fakes.openai.requests.at(-1)!.body as Json).response_format as Json;

const answer = { city: 'Paris', celsius: 18 };

async function askAnthropic(schema: Json): Promise<void> {
  setup.fakes.openai.script({
    blocks: [{ type: 'text', text: JSON.stringify(answer) }],
    stop: 'end',
    usage: { input: 20, output: 10 },
  });
  await anthropic.messages.create({
    model: MODEL,
    max_tokens: 100,
    messages: [{ role: 'user', content: 'Weather in Paris?' }],
    output_config: { format: { type: 'json_schema', schema } },
  });
}

describe("an Anthropic client's structured output at an OpenAI model", () => {
  it('is strict where the schema fits the strict subset', async () => {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string', description: 'The city' },
        celsius: { type: 'number' },
        wind: {
          type: 'object',
          properties: { kmh: { type: 'integer' } },
          required: ['kmh'],
          additionalProperties: false,
        },
        tags: { type: 'array', items: { type: 'string', enum: ['sun', 'rain'] } },
      },
      required: ['city', 'celsius', 'wind', 'tags'],
      additionalProperties: false,
    };
    await askAnthropic(schema);
    expect(sentFormat()).toEqual({
      type: 'json_schema',
      json_schema: { name: 'response', schema, strict: true },
    });
  });

  it('has an optional property that takes null made required, which every answer to it still fits', async () => {
    await askAnthropic({
      type: 'object',
      properties: { city: { type: 'string' }, note: { type: ['string', 'null'] } },
      required: ['city'],
      additionalProperties: false,
    });
    expect(sentFormat()).toMatchObject({
      json_schema: { strict: true, schema: { required: ['city', 'note'] } },
    });
  });

  it('goes as a hint, without strict, where the schema does not fit', async () => {
    const optional = {
      type: 'object',
      properties: { city: { type: 'string' }, note: { type: 'string' } },
      required: ['city'],
      additionalProperties: false,
    };
    const unsupported = {
      type: 'object',
      properties: { tags: { type: 'array', items: { type: 'string' }, uniqueItems: true } },
      required: ['tags'],
      additionalProperties: false,
    };
    for (const schema of [optional, unsupported]) {
      await askAnthropic(schema);
      expect(sentFormat()).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema } });
    }
  });
});

describe("a Gemini client's response schema at an OpenAI model", () => {
  const ask = async (config: Json) => {
    setup.fakes.openai.script({
      blocks: [{ type: 'text', text: JSON.stringify(answer) }],
      stop: 'end',
      usage: { input: 20, output: 10 },
    });
    await gemini.models.generateContent({
      model: MODEL,
      contents: 'Weather in Paris?',
      config: { responseMimeType: 'application/json', ...config },
    });
  };

  it('is strict with its objects closed, as Gemini decodes them', async () => {
    await ask({
      responseSchema: {
        type: Type.OBJECT,
        properties: { city: { type: Type.STRING }, celsius: { type: Type.NUMBER } },
        required: ['city', 'celsius'],
        propertyOrdering: ['city', 'celsius'],
      },
    });
    expect(sentFormat()).toEqual({
      type: 'json_schema',
      json_schema: {
        name: 'response',
        strict: true,
        schema: {
          type: 'object',
          properties: { city: { type: 'string' }, celsius: { type: 'number' } },
          required: ['city', 'celsius'],
          additionalProperties: false,
        },
      },
    });
  });

  it('goes without strict when a property may be left out', async () => {
    await ask({
      responseJsonSchema: { type: 'object', properties: { city: { type: 'string' } } },
    });
    expect(sentFormat()).toEqual({
      type: 'json_schema',
      json_schema: { name: 'response', schema: { type: 'object', properties: { city: { type: 'string' } } } },
    });
  });

  it('goes without strict when a $ref has a description beside it, as Pydantic writes a described model, which strict mode refuses', async () => {
    // Pydantic v2: class Book(BaseModel): title: str; author: Person = Field(description='who wrote it')
    const schema = {
      $defs: {
        Person: {
          properties: { name: { title: 'Name', type: 'string' } },
          required: ['name'],
          title: 'Person',
          type: 'object',
        },
      },
      properties: {
        title: { title: 'Title', type: 'string' },
        author: { $ref: '#/$defs/Person', description: 'who wrote it' },
      },
      required: ['title', 'author'],
      title: 'Book',
      type: 'object',
    };
    await ask({ responseJsonSchema: schema });
    expect(sentFormat()).toEqual({ type: 'json_schema', json_schema: { name: 'response', schema } });
  });
});
