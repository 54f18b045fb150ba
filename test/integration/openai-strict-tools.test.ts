import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Tools whose client's format holds the call's arguments to the schema, translated for an
 * OpenAI-format provider, which does so only with `strict: true` and refuses a strict schema
 * outside its subset (the fake refuses it as OpenAI does). Anthropic's strict tools ask for the
 * guarantee: strict where the schema fits, else the gateway's 400 naming the tool and what does
 * not fit. A Responses function tool without `strict`, which OpenAI makes strict where it can, is
 * strict where the schema fits and otherwise goes as before, without.
 */

const MODEL = 'openai/gpt-4o-mini';

let setup: FormatGateway;
let anthropic: Anthropic;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  anthropic = new Anthropic({ baseURL: setup.kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

type Json = Record<string, unknown>;

/** The function definitions the OpenAI fake was sent last. */
const sentFunctions = (): Json[] =>
  ((setup.fakes.openai.requests.at(-1)!.body as Json).tools as Json[]).map((tool) => tool.function as Json);

const closed = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: ['string', 'null'], enum: ['c', 'f', null] } },
  required: ['city'],
  additionalProperties: false,
};
const optional = {
  type: 'object',
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
  required: ['city'],
  additionalProperties: false,
};

function scriptCall(): void {
  setup.fakes.openai.script({
    blocks: [{ type: 'tool_call', id: 'call_1', name: 'weather', arguments: { city: 'Paris', unit: null } }],
    stop: 'tool_use',
    usage: { input: 20, output: 10 },
  });
}

describe("an Anthropic client's strict tool at an OpenAI model", () => {
  const ask = (input_schema: Json) =>
    anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [{ name: 'weather', input_schema: input_schema as Anthropic.Tool.InputSchema, strict: true }],
    });

  it('is strict, its optional property that takes null made required', async () => {
    scriptCall();
    const message = await ask(closed);
    expect(message.content[0]).toMatchObject({ type: 'tool_use', name: 'weather' });
    expect(sentFunctions()[0]).toEqual({
      name: 'weather',
      strict: true,
      parameters: { ...closed, required: ['city', 'unit'] },
    });
  });

  it("is strict with the dialect a schema generator writes at its root (zod's, the AI SDK's)", async () => {
    scriptCall();
    const generated = { $schema: 'http://json-schema.org/draft-07/schema#', ...closed };
    const message = await ask(generated);
    expect(message.content[0]).toMatchObject({ type: 'tool_use', name: 'weather' });
    expect(sentFunctions()[0]).toMatchObject({
      name: 'weather',
      strict: true,
      parameters: { $schema: generated.$schema },
    });
  });

  it('is refused, naming the tool and what does not fit, where the schema has no strict form', async () => {
    const before = setup.fakes.openai.requests.length;
    const refused = await ask(optional).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    const message = (refused as InstanceType<typeof Anthropic.BadRequestError>).message;
    expect(message).toContain('tools.0.input_schema.properties.days');
    expect(message).toContain("'weather'");
    expect(setup.fakes.openai.requests.length).toBe(before);
  });
});

describe("a Responses client's function tool at an OpenAI model", () => {
  const ask = (parameters: Json, strict?: boolean | null) =>
    openai.responses.create({
      model: MODEL,
      input: 'Weather in Paris?',
      tools: [{ type: 'function', name: 'weather', parameters, strict: strict as boolean | null }],
    });

  it('without strict is strict where its schema fits, as OpenAI makes it', async () => {
    for (const strict of [undefined, null]) {
      scriptCall();
      await ask(closed, strict);
      expect(sentFunctions()[0]).toEqual({
        name: 'weather',
        strict: true,
        parameters: { ...closed, required: ['city', 'unit'] },
      });
    }
  });

  it('without strict goes without it where its schema does not fit', async () => {
    scriptCall();
    await ask(optional);
    expect(sentFunctions()[0]).toEqual({ name: 'weather', parameters: optional });
  });

  it('with strict set goes as the client set it', async () => {
    scriptCall();
    await ask(optional, false);
    expect(sentFunctions()[0]).toEqual({ name: 'weather', parameters: optional, strict: false });
  });
});
