import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * `strict` the client did not set goes only to OpenAI's own API (and Azure's), whose strict subset
 * the gateway checks a schema against. A server imitating the API gets the client's own `strict`
 * alone: some refuse `strict` on a function with a 400 (xAI: "`strict` mode on function call is
 * currently not supported"; vLLM 0.8–0.9: "Extra inputs are not permitted"), others take it
 * with other rules or none, so a schema that fits OpenAI's subset says nothing about them.
 */

const MODEL = 'compat/gpt-4o-mini';

let fake: FakeProvider;
let kw: TestGateway;
let anthropic: Anthropic;
let openai: OpenAI;

beforeAll(async () => {
  fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'compat',
          type: 'openai-compatible',
          baseUrl: fake.baseUrl,
          keys: { env: 'PROVIDER_KEY' },
          retries: { maxAttempts: 1 },
        },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
  anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

type Json = Record<string, unknown>;

const sent = (): Json => fake.requests.at(-1)!.body as Json;
const sentFunction = (): Json => (sent().tools as Json[])[0]!.function as Json;

const schema = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: ['string', 'null'] } },
  required: ['city'],
  additionalProperties: false,
};
const optional = {
  type: 'object',
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
  required: ['city'],
  additionalProperties: false,
};

const text = () =>
  fake.script({
    blocks: [{ type: 'text', text: '{"city":"Paris"}' }],
    stop: 'end',
    usage: { input: 9, output: 5 },
  });

describe('an OpenAI-compatible server', () => {
  it("gets an Anthropic client's structured output without strict", async () => {
    text();
    await anthropic.messages.create({
      model: MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      output_config: { format: { type: 'json_schema', schema } },
    });
    expect(sent().response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'response', schema },
    });
  });

  it("gets a Responses client's function tool without strict as it came", async () => {
    text();
    await openai.responses.create({
      model: MODEL,
      input: 'Weather in Paris?',
      tools: [{ type: 'function', name: 'weather', parameters: schema, strict: null }],
    });
    expect(sentFunction()).toEqual({ name: 'weather', parameters: schema });
  });

  it("gets an Anthropic client's strict tool as the client set it, whatever OpenAI's subset", async () => {
    const before = fake.requests.length;
    await anthropic.messages
      .create({
        model: MODEL,
        max_tokens: 100,
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ name: 'weather', input_schema: optional as Anthropic.Tool.InputSchema, strict: true }],
      })
      .catch(() => undefined);
    expect(fake.requests.length).toBe(before + 1);
    expect(sentFunction()).toEqual({ name: 'weather', parameters: optional, strict: true });
  });
});
