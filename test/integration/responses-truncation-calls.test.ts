import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';
import { GREETING, WEATHER_ANSWER, WEATHER_CALL } from '../support/weather-scripts.js';

/**
 * `truncation: 'auto'` drops whole turns, but never the one holding a call the input answers: the
 * providers refuse a tool result without its call (the fakes as OpenAI and Anthropic do, with a
 * 400), so a request that does not fit with that turn is refused as too large instead.
 */
const FORMATS = ['openai', 'anthropic', 'gemini'] as const;
const fakes = {} as Record<(typeof FORMATS)[number], FakeProvider>;
let kw: TestGateway;
let client: OpenAI;
beforeAll(async () => {
  for (const format of FORMATS) fakes[format] = await startFakeProvider(format, { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: FORMATS.map((format) => ({
        id: format,
        type: format,
        baseUrl: fakes[format].baseUrl,
        keys: { env: 'PROVIDER_KEY' },
        retries: { maxAttempts: 1 },
      })),
      conversations: { contextTokens: 1100 },
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
  client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await Promise.all(FORMATS.map((format) => fakes[format]?.close()));
});

const tools: OpenAI.Responses.Tool[] = [
  {
    type: 'function',
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } } },
    strict: false,
  },
];

/** The tool call's id as the answer gives it. */
const callOf = (response: OpenAI.Responses.Response): string => {
  const call = response.output.find((item) => item.type === 'function_call');
  if (!call) throw new Error('no function call in the answer');
  return call.call_id;
};

describe.each(FORMATS)("a tool result under truncation: 'auto', to %s", (format) => {
  const model = `${format}/m`;

  it('is refused when it does not fit with the turn holding its call, and nothing is sent', async () => {
    fakes[format].script(WEATHER_CALL);
    const first = await client.responses.create({ model, input: `Weather? ${'u'.repeat(800)}`, tools });
    const calls = fakes[format].requests.length;
    await expect(
      client.responses.create({
        model,
        previous_response_id: first.id,
        input: [{ type: 'function_call_output', call_id: callOf(first), output: 't'.repeat(3900) }],
        tools,
        truncation: 'auto',
      }),
    ).rejects.toMatchObject({
      status: 400,
      error: {
        param: 'input',
        message: expect.stringMatching(
          /^The input with the turn holding the calls it answers \(about \d+ tokens\) exceeds the context window of \d+ tokens/,
        ),
      },
    });
    expect(fakes[format].requests.length).toBe(calls);
  });

  it('keeps the turn holding its call and drops the older ones', async () => {
    fakes[format].script(GREETING, WEATHER_CALL, WEATHER_ANSWER);
    const first = await client.responses.create({ model, input: `Hello ${'o'.repeat(3800)}` });
    const second = await client.responses.create({
      model,
      previous_response_id: first.id,
      input: 'Weather in Paris?',
      tools,
    });
    const third = await client.responses.create({
      model,
      previous_response_id: second.id,
      input: [{ type: 'function_call_output', call_id: callOf(second), output: `21C ${'t'.repeat(1500)}` }],
      tools,
      truncation: 'auto',
    });
    expect(third.output_text).toBe('It is 21 degrees in Paris.');
    const sent = fakes[format].requests.at(-1)!.raw;
    expect(sent).not.toContain('oooo');
    expect(sent).toContain('Weather in Paris?');
    expect(sent).toContain('21C');
  });
});
