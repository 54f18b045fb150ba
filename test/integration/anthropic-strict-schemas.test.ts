import { GoogleGenAI, Type } from '@google/genai';
import OpenAI from 'openai';
import { zodFunction, zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { schemaNodes } from '../support/fake-providers/anthropic.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Schemas written for OpenAI's strict mode or Gemini's `responseSchema`, translated for an
 * Anthropic model: its structured outputs and strict tools take only a subset of JSON Schema
 * (every object closed, no numeric or length bounds, few string formats), which the fake refuses
 * as the real API does. The gateway sends what Anthropic's own SDK sends for such a schema, with
 * the constraints moved into descriptions, and names the client's field for what has no form there.
 */

const MODEL = 'anthropic/claude-sonnet-4-5';

let setup: FormatGateway;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

type Json = Record<string, unknown>;

/** The last body the Anthropic fake received. */
const sent = (): Json => setup.fakes.anthropic.requests.at(-1)!.body as Json;

const REFUSED = [
  'minimum',
  'maximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'maxItems',
  '$schema',
];

/** What Anthropic's constrained decoding takes: closed objects, none of the refused keywords. */
function expectConstrainable(schema: unknown): void {
  for (const node of schemaNodes(schema)) {
    const types = [node.type].flat();
    if (types.includes('object')) expect(node.additionalProperties).toBe(false);
    for (const key of REFUSED) expect(node).not.toHaveProperty(key);
    if (node.minItems !== undefined) expect([0, 1]).toContain(node.minItems);
    if (node.format !== undefined) expect(['email', 'date-time', 'uri']).toContain(node.format);
  }
}

const Line = z.object({ sku: z.string().max(12), qty: z.number().int().min(1) });
const Order = z.object({
  qty: z.number().int(),
  sku: z.string().max(12),
  email: z.string().email(),
  customer: z.object({ name: z.string(), address: z.object({ city: z.string() }) }),
  lines: z.array(Line).min(2),
  note: z.string().nullish(),
  gift: Line.nullable(),
});
const order = {
  qty: 3,
  sku: 'AB-12',
  email: 'ada@example.com',
  customer: { name: 'Ada', address: { city: 'London' } },
  lines: [
    { sku: 'AB-12', qty: 1 },
    { sku: 'CD-34', qty: 2 },
  ],
  note: null,
  gift: null,
};
const usage = { input: 50, output: 20 };

describe('an OpenAI client asking an Anthropic model for structured output', () => {
  it('gets its parsed answer, the schema sent as Anthropic takes it', async () => {
    setup.fakes.anthropic.script({
      blocks: [{ type: 'text', text: JSON.stringify(order) }],
      stop: 'end',
      usage,
    });
    const completion = await openai.chat.completions.parse({
      model: MODEL,
      messages: [{ role: 'user', content: 'Order three of AB-12 for ada@example.com' }],
      response_format: zodResponseFormat(Order, 'order'),
      tools: [zodFunction({ name: 'place_order', parameters: Order })],
    });
    expect(completion.choices[0]!.message.parsed).toEqual(order);

    const body = sent();
    const schema = (body.output_config as { format: { schema: Json } }).format.schema;
    const tool = (body.tools as Json[])[0]!;
    expect(tool).toMatchObject({ name: 'place_order', strict: true });
    for (const sentSchema of [schema, tool.input_schema]) {
      expectConstrainable(sentSchema);
      const properties = (sentSchema as { properties: Record<string, Json> }).properties;
      // The constraints go on as words for the model, as Anthropic's SDK writes them.
      expect(properties.qty).toEqual({
        type: 'integer',
        description: '{minimum: -9007199254740991, maximum: 9007199254740991}',
      });
      expect(properties.sku).toEqual({ type: 'string', description: '{maxLength: 12}' });
      expect(properties.email).toMatchObject({ type: 'string', format: 'email' });
      expect(properties.email!.description).toMatch(/^\{pattern: "/);
      expect(properties.lines).toMatchObject({ type: 'array', description: '{minItems: 2}' });
      expect(properties.note).toEqual({ type: ['string', 'null'] });
    }
  });

  it("gets a strict tool's call parsed", async () => {
    setup.fakes.anthropic.script({
      blocks: [{ type: 'tool_call', id: 'toolu_01', name: 'place_order', arguments: order }],
      stop: 'tool_use',
      usage,
    });
    const completion = await openai.chat.completions.parse({
      model: MODEL,
      messages: [{ role: 'user', content: 'Order it' }],
      tools: [zodFunction({ name: 'place_order', parameters: Order })],
    });
    const call = completion.choices[0]!.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function.parsed_arguments).toEqual(order);
    expectConstrainable((sent().tools as Json[])[0]!.input_schema);
  });

  it('is refused, at its own field, a schema that allows any value', async () => {
    const before = setup.fakes.anthropic.requests.length;
    const refused = await openai.chat.completions
      .parse({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        response_format: zodResponseFormat(z.object({ id: z.string(), extra: z.any() }), 'thing'),
      })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect(refused).toMatchObject({
      code: 'unsupported_for_provider',
      param: 'response_format.json_schema.schema.properties.extra',
    });
    expect(setup.fakes.anthropic.requests.length).toBe(before);
  });

  it('through the Responses API, by its own names', async () => {
    setup.fakes.anthropic.script({
      blocks: [{ type: 'text', text: JSON.stringify(order) }],
      stop: 'end',
      usage,
    });
    const response = await openai.responses.parse({
      model: MODEL,
      input: 'Order it',
      store: false,
      text: { format: zodTextFormat(Order, 'order') },
    });
    expect(response.output_parsed).toEqual(order);
    expectConstrainable((sent().output_config as { format: { schema: Json } }).format.schema);

    const refused = await openai.responses
      .create({
        model: MODEL,
        input: 'hi',
        store: false,
        tools: [
          {
            type: 'function',
            name: 'look',
            strict: true,
            parameters: {
              type: 'object',
              properties: { what: { anyOf: [{ type: 'string' }, {}] } },
              required: ['what'],
              additionalProperties: false,
            },
          },
        ],
      })
      .catch((error: unknown) => error);
    expect(refused).toMatchObject({
      status: 400,
      code: 'unsupported_for_provider',
      param: 'tools[0].parameters.properties.what.anyOf[1]',
    });
  });
});

describe("a Gemini client's responseSchema for an Anthropic model", () => {
  it('goes with every object closed and its bounds as descriptions', async () => {
    setup.fakes.anthropic.script({
      blocks: [{ type: 'text', text: '{"name":"Ada","tags":["a","b"],"address":null}' }],
      stop: 'end',
      usage,
    });
    const ai = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
    const response = await ai.models.generateContent({
      model: MODEL,
      contents: 'Who wrote the first program?',
      config: {
        responseMimeType: 'application/json',
        responseSchema: {
          type: Type.OBJECT,
          properties: {
            name: { type: Type.STRING, maxLength: '40' },
            tags: { type: Type.ARRAY, items: { type: Type.STRING }, minItems: '2' },
            address: {
              type: Type.OBJECT,
              nullable: true,
              properties: { city: { type: Type.STRING } },
            },
          },
          required: ['name', 'tags', 'address'],
          propertyOrdering: ['name', 'tags', 'address'],
        },
      },
    });
    expect(JSON.parse(response.text ?? '')).toEqual({ name: 'Ada', tags: ['a', 'b'], address: null });

    const schema = (sent().output_config as { format: { schema: Json } }).format.schema;
    expectConstrainable(schema);
    expect(schema).toEqual({
      type: 'object',
      properties: {
        name: { type: 'string', description: '{maxLength: 40}' },
        tags: { type: 'array', items: { type: 'string' }, description: '{minItems: 2}' },
        address: {
          type: ['object', 'null'],
          properties: { city: { type: 'string' } },
          additionalProperties: false,
        },
      },
      additionalProperties: false,
      required: ['name', 'tags', 'address'],
    });
  });
});
