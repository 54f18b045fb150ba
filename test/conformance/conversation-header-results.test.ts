import { GoogleGenAI, Type } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import type { FakeProvider } from '../support/fake-providers/server.js';
import { FORMATS, type Format, startFormatGateway } from '../support/format-gateway.js';
import type { TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A client continuing a Keyward conversation (`x-keyward-conversation`) sends only its new turn: a
 * result that names its call by name (a legacy `function` message, a Gemini `functionResponse`
 * without id) answers a call that lives in the stored history, on the provider that made it and
 * on another one.
 */
const say = (text: string): Script => ({
  blocks: [{ type: 'text', text }],
  stop: 'end',
  usage: { input: 8, output: 3 },
});
const weatherCall = (...cities: string[]): Script => ({
  blocks: cities.map((city, i) => ({
    type: 'tool_call' as const,
    id: `toolu_0${i}`,
    name: 'get_weather',
    arguments: { city },
  })),
  stop: 'tool_use',
  usage: { input: 10, output: 5 },
});

/** [the provider of the call, the provider of the answer to its result] */
const PAIRS: Array<[Format, Format]> = [
  ['openai', 'openai'],
  ['anthropic', 'anthropic'],
  ['gemini', 'gemini'],
  ['anthropic', 'gemini'],
  ['gemini', 'openai'],
  ['openai', 'anthropic'],
];

interface Exchange {
  calls: Array<{ id?: string; name: string }>;
  results: Array<{ id?: string; name?: string; content: unknown }>;
}

// biome-ignore lint/suspicious/noExplicitAny: provider bodies are read field by field
type Json = Record<string, any>;

/** The last two messages a provider was sent: the calls, then right after them their results. */
function lastExchange(format: Format, body: Json): Exchange {
  if (format === 'openai') {
    const messages: Json[] = body.messages;
    const at = messages.findIndex((message) => message.role === 'tool');
    expect(messages.slice(at).every((message) => message.role === 'tool')).toBe(true);
    return {
      calls: messages[at - 1]!.tool_calls.map((call: Json) => ({ id: call.id, name: call.function.name })),
      results: messages.slice(at).map((message) => ({ id: message.tool_call_id, content: message.content })),
    };
  }
  if (format === 'anthropic') {
    const [call, result] = (body.messages as Json[]).slice(-2);
    return {
      calls: call!.content.filter((block: Json) => block.type === 'tool_use'),
      results: result!.content.map((block: Json) => ({ id: block.tool_use_id, content: block.content })),
    };
  }
  const [call, result] = (body.contents as Json[]).slice(-2);
  expect([call!.role, result!.role]).toEqual(['model', 'user']);
  return {
    calls: call!.parts.flatMap((part: Json) => (part.functionCall ? [part.functionCall] : [])),
    results: result!.parts.map(({ functionResponse: { id, name, response } }: Json) => ({
      id,
      name,
      content: response,
    })),
  };
}

/** Each result answers the call at its place, by id (and by name, for Gemini), with `contents`. */
function expectPaired(exchange: Exchange, contents: string[]): void {
  expect(exchange.calls.map((call) => call.name)).toEqual(contents.map(() => 'get_weather'));
  expect(exchange.results.map((result) => result.id)).toEqual(exchange.calls.map((call) => call.id));
  exchange.results.forEach((result, i) => {
    if (result.name !== undefined) expect(result.name).toBe('get_weather');
    expect(JSON.stringify(result.content)).toContain(contents[i]);
  });
}

describe('tool results answering a call stored in the conversation', () => {
  let fakes: Record<Format, FakeProvider>;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    ({ fakes, kw } = await startFormatGateway());
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all(FORMATS.map((format) => fakes?.[format]?.close()));
  });

  const conversation = async () => (await client.conversations.create({})).id;
  const sentTo = (format: Format) => fakes[format].requests.at(-1)!.body as Json;

  describe('Chat Completions with legacy functions', () => {
    const functions = [
      { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    ];

    it.each(PAIRS)(
      'pairs a function message with the stored function_call (%s, then %s)',
      async (from, to) => {
        const headers = { 'x-keyward-conversation': await conversation() };
        fakes[from].script(weatherCall('Paris'));
        const first = await client.chat.completions.create(
          { model: `${from}/m`, messages: [{ role: 'user', content: 'Weather?' }], functions },
          { headers },
        );
        expect(first.choices[0]!.message.function_call?.name).toBe('get_weather');

        fakes[to].script(say('21C'));
        const second = await client.chat.completions.create(
          {
            model: `${to}/m`,
            messages: [{ role: 'function', name: 'get_weather', content: '21' }],
            functions,
          },
          { headers },
        );
        expect(second.choices[0]!.message.content).toBe('21C');
        expectPaired(lastExchange(to, sentTo(to)), ['21']);
      },
    );

    it('refuses a function message whose call is answered already, in the history or the same request', async () => {
      const headers = { 'x-keyward-conversation': await conversation() };
      fakes.gemini.script(weatherCall('Paris'));
      await client.chat.completions.create(
        { model: 'gemini/m', messages: [{ role: 'user', content: 'Weather?' }], functions },
        { headers },
      );
      const answer = (content: string[]) =>
        client.chat.completions
          .create(
            {
              model: 'gemini/m',
              messages: content.map((text) => ({
                role: 'function' as const,
                name: 'get_weather',
                content: text,
              })),
              functions,
            },
            { headers },
          )
          .catch((error: unknown) => error);
      const before = fakes.gemini.requests.length;
      const twice = await answer(['21', '22']);
      expect(twice).toBeInstanceOf(OpenAI.BadRequestError);
      expect((twice as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
        code: 'invalid_value',
        param: 'messages[1].name',
      });
      fakes.gemini.script(say('21C'));
      expect(await answer(['21'])).toMatchObject({ choices: [{ message: { content: '21C' } }] });
      const again = await answer(['21']);
      expect(again).toBeInstanceOf(OpenAI.BadRequestError);
      expect((again as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
        code: 'invalid_value',
        param: 'messages[0].name',
      });
      expect(fakes.gemini.requests.length).toBe(before + 1);
    });

    it('refuses a function message that answers no call, stored or sent, as the request’s fault', async () => {
      const headers = { 'x-keyward-conversation': await conversation() };
      const before = fakes.anthropic.requests.length;
      const refused = await client.chat.completions
        .create(
          {
            model: 'anthropic/m',
            messages: [{ role: 'function', name: 'get_weather', content: '21' }],
            functions,
          },
          { headers },
        )
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
      expect((refused as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({
        type: 'invalid_request_error',
        code: 'invalid_value',
        param: 'messages[0].name',
        message:
          'A function message must answer an earlier assistant function_call of the same name that no function message has answered yet',
      });
      expect(fakes.anthropic.requests.length).toBe(before);
    });
  });

  describe('Gemini', () => {
    const tools = [
      {
        functionDeclarations: [
          {
            name: 'get_weather',
            parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } } },
          },
        ],
      },
    ];
    const gemini = async () =>
      new GoogleGenAI({
        apiKey: CLIENT_KEY,
        httpOptions: { baseUrl: kw.dataUrl, headers: { 'x-keyward-conversation': await conversation() } },
      });
    const result = (output: string) => ({
      functionResponse: { name: 'get_weather', response: { output } },
    });

    it.each(PAIRS)(
      'pairs a functionResponse without id with the stored call by name (%s, then %s)',
      async (from, to) => {
        const ai = await gemini();
        fakes[from].script(weatherCall('Paris'));
        const first = await ai.models.generateContent({
          model: `${from}/m`,
          contents: 'Weather?',
          config: { tools },
        });
        expect(first.functionCalls?.[0]?.name).toBe('get_weather');

        fakes[to].script(say('21C'));
        const second = await ai.models.generateContent({
          model: `${to}/m`,
          contents: [{ role: 'user', parts: [result('21')] }],
          config: { tools },
        });
        expect(second.text).toBe('21C');
        expectPaired(lastExchange(to, sentTo(to)), ['21']);
      },
    );

    it('pairs results of stored calls of one name in the order of the calls, as Gemini does', async () => {
      const ai = await gemini();
      fakes.anthropic.script(weatherCall('Paris', 'Rome'));
      const first = await ai.models.generateContent({
        model: 'anthropic/m',
        contents: 'Weather?',
        config: { tools },
      });
      expect(first.functionCalls?.map((call) => call.args?.city)).toEqual(['Paris', 'Rome']);

      fakes.openai.script(say('21C and 25C'));
      await ai.models.generateContent({
        model: 'openai/m',
        contents: [{ role: 'user', parts: [result('21'), result('25')] }],
        config: { tools },
      });
      const sent = lastExchange('openai', sentTo('openai'));
      expect(sent.calls.map((call) => call.id)).toEqual(['toolu_00', 'toolu_01']);
      expectPaired(sent, ['21', '25']);
    });

    it('leaves a stored call answered in an earlier turn to no later result', async () => {
      const ai = await gemini();
      fakes.anthropic.script(weatherCall('Paris'));
      await ai.models.generateContent({ model: 'anthropic/m', contents: 'Weather?', config: { tools } });
      fakes.anthropic.script(say('21C'));
      const contents = [{ role: 'user', parts: [result('21')] }];
      await ai.models.generateContent({ model: 'anthropic/m', contents, config: { tools } });
      const again = await ai.models
        .generateContent({ model: 'anthropic/m', contents, config: { tools } })
        .catch((error: unknown) => error);
      expect(again).toMatchObject({ status: 400 });
      expect((again as { message: string }).message).toContain('No earlier function call named get_weather');
    });

    it('refuses a functionResponse that answers no call, stored or sent, as the request’s fault', async () => {
      const ai = await gemini();
      const before = fakes.openai.requests.length;
      const refused = await ai.models
        .generateContent({
          model: 'openai/m',
          contents: [{ role: 'user', parts: [result('21')] }],
          config: { tools },
        })
        .catch((error: unknown) => error as { status: number; message: string });
      expect(refused).toMatchObject({ status: 400 });
      expect((refused as { message: string }).message).toContain(
        'No earlier function call named get_weather is waiting for this result',
      );
      expect((refused as { message: string }).message).toContain('invalid_value');
      expect(fakes.openai.requests.length).toBe(before);
    });
  });
});
