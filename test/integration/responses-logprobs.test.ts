import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../support/fake-openai.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Token log probabilities on /v1/responses, read with OpenAI's SDK: `include:
 * ["message.output_text.logprobs"]` shows them on each `output_text` part (and on its stream's
 * text events), `top_logprobs` counts the likeliest tokens at each place. An OpenAI-format
 * provider is asked for them in Chat Completions' terms; a provider that gives none refuses the
 * request naming the field that asked. Both were refused, or dropped, for every provider.
 */

const INCLUDE = ['message.output_text.logprobs'] as OpenAI.Responses.ResponseIncludable[];
const OTHERS = ['anthropic', 'gemini', 'ollama'] as const;

let openai: FakeOpenAI;
const others = {} as Record<(typeof OTHERS)[number], FakeProvider>;
let kw: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  openai = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  for (const format of OTHERS)
    others[format] = await startFakeProvider(format, format === 'ollama' ? {} : { keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        { id: 'openai', type: 'openai', baseUrl: `${openai.url}/v1`, keys: { env: 'PROVIDER_KEY' } },
        ...OTHERS.map((format) => ({
          id: format,
          type: format,
          baseUrl: others[format].baseUrl,
          ...(format !== 'ollama' && { keys: { env: 'PROVIDER_KEY' } }),
          retries: { maxAttempts: 1 },
        })),
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
  client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(async () => {
  await kw?.close();
  await openai?.close();
  await Promise.all(OTHERS.map((format) => others[format]?.close()));
});

/** What OpenAI's Chat Completions answer (the fake's) said of its tokens, in Responses' shape. */
function upstreamLogprobs(top: number) {
  const answer = 'Hello from the fake provider. You said 5 characters.';
  return (answer.match(/\S+\s*/g) ?? []).map((token, at) => {
    const logprob = -((at % 7) + 1) / 100;
    const entry = (text: string, value: number) => ({
      token: text,
      logprob: value,
      bytes: [...Buffer.from(text)],
    });
    return {
      ...entry(token, logprob),
      top_logprobs: Array.from({ length: top }, (_, k) =>
        k === 0 ? entry(token, logprob) : entry(`${token.trim()}~${k}`, logprob - k),
      ),
    };
  });
}

const lastBody = () => openai.requests.at(-1)?.body as Record<string, unknown>;

/** The logprobs of the answer's first part, which must be an output_text. */
function logprobsOf(response: OpenAI.Responses.Response | undefined): unknown {
  const message = response?.output[0];
  expect(message?.type).toBe('message');
  const part = (message as OpenAI.Responses.ResponseOutputMessage).content[0];
  expect(part?.type).toBe('output_text');
  return (part as OpenAI.Responses.ResponseOutputText).logprobs;
}

describe('logprobs on /v1/responses to an OpenAI-format provider', () => {
  it('are asked of Chat Completions and shown on the output_text part', async () => {
    const response = await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: 'hello',
      include: INCLUDE,
      top_logprobs: 2,
      store: false,
    });
    expect(lastBody()).toMatchObject({ logprobs: true, top_logprobs: 2 });
    expect(logprobsOf(response)).toEqual(upstreamLogprobs(2));
  });

  it('come with include alone, without the likeliest tokens', async () => {
    const response = await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: 'hello',
      include: INCLUDE,
      store: false,
    });
    expect(lastBody()).toMatchObject({ logprobs: true });
    expect(lastBody()).not.toHaveProperty('top_logprobs');
    expect(logprobsOf(response)).toEqual(upstreamLogprobs(0));
  });

  it('are not shown unless include names them, as OpenAI answers top_logprobs alone', async () => {
    const response = await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: 'hello',
      top_logprobs: 3,
      store: false,
    });
    expect(logprobsOf(response)).toEqual([]);
  });

  it('stream on each text delta, and whole on the done events and the completed response', async () => {
    const stream = await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: 'hello',
      include: INCLUDE,
      top_logprobs: 1,
      stream: true,
      store: false,
    });
    expect(lastBody()).toMatchObject({ stream: true, logprobs: true, top_logprobs: 1 });
    const expected = upstreamLogprobs(1);
    const inEvents = expected.map(({ token, logprob, top_logprobs }) => ({
      token,
      logprob,
      top_logprobs: top_logprobs.map((likely) => ({ token: likely.token, logprob: likely.logprob })),
    }));
    const deltas: unknown[] = [];
    let done: unknown;
    let partDone: unknown;
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') deltas.push(...event.logprobs);
      if (event.type === 'response.output_text.done') done = event.logprobs;
      if (event.type === 'response.content_part.done') partDone = event.part;
      if (event.type === 'response.completed') completed = event.response;
    }
    expect(deltas).toEqual(inEvents);
    expect(done).toEqual(inEvents);
    expect(partDone).toMatchObject({ type: 'output_text', logprobs: expected });
    expect(logprobsOf(completed)).toEqual(expected);
  });

  it('are the answer only: the stored response keeps the text without them', async () => {
    const response = await client.responses.create({
      model: 'openai/gpt-4o-mini',
      input: 'hello',
      include: INCLUDE,
      top_logprobs: 5,
    });
    const stored = await client.responses.retrieve(response.id);
    expect(stored.output_text).toBe(response.output_text);
    expect(logprobsOf(stored)).toEqual([]);
  });
});

describe('logprobs on /v1/responses to a provider that gives none', () => {
  /** The refusal's param and code; fails when the request was answered. */
  async function refused(body: OpenAI.Responses.ResponseCreateParamsNonStreaming) {
    const error = await client.responses.create(body).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const { param, code } = error as InstanceType<typeof OpenAI.APIError>;
    return { param, code };
  }

  for (const format of OTHERS) {
    it(`is refused for ${format}, naming the include value or top_logprobs`, async () => {
      const before = others[format].requests.length;
      const model = `${format}/some-model`;
      const include: OpenAI.Responses.ResponseIncludable[] = ['reasoning.encrypted_content', ...INCLUDE];
      expect(await refused({ model, input: 'hello', include, store: false })).toEqual({
        param: 'include[1]',
        code: 'unsupported_for_provider',
      });
      expect(await refused({ model, input: 'hello', top_logprobs: 2, store: false })).toEqual({
        param: 'top_logprobs',
        code: 'unsupported_for_provider',
      });
      expect(others[format].requests.length).toBe(before);
      // Zero likeliest tokens, without include, asks for nothing.
      const answered = await client.responses.create({
        model,
        input: 'hello',
        top_logprobs: 0,
        store: false,
      });
      expect(answered.status).toBe('completed');
    });
  }
});
