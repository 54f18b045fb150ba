import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Anthropic refuses a temperature other than 1 and any top_k while the model thinks, and takes a
 * top_p only from 0.95 to 1 (the fake refuses them as the API does). A client of another format
 * asking for thinking with such a setting is refused, naming its own field, rather than answered
 * without it; the settings Anthropic takes then go as asked.
 */

const MODEL = 'anthropic/claude-sonnet-4-5';

let setup: FormatGateway;
let openai: OpenAI;
let gemini: GoogleGenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  gemini = new GoogleGenAI({ apiKey: CLIENT_KEY, httpOptions: { baseUrl: setup.kw.dataUrl } });
});
afterAll(() => setup?.close());

type Json = Record<string, unknown>;

const sent = (): Json => setup.fakes.anthropic.requests.at(-1)!.body as Json;
const sentCount = (): number => setup.fakes.anthropic.requests.length;

/** The OpenAI SDK's error for a refused request, or a failure when it was answered. */
async function refusal(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  return error as InstanceType<typeof OpenAI.APIError>;
}

describe('a Chat Completions client asking an Anthropic model to reason', () => {
  it('is refused a temperature other than 1, naming temperature, and nothing goes upstream', async () => {
    const before = sentCount();
    const error = await refusal(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        reasoning_effort: 'low',
        temperature: 0,
      }),
    );
    expect(error.param).toBe('temperature');
    expect(error.code).toBe('unsupported_for_provider');
    expect(error.message).toMatch(/temperature.*1.*thinks/i);
    expect(sentCount()).toBe(before);
  });

  it('is refused a top_p below 0.95, naming top_p', async () => {
    const error = await refusal(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        reasoning_effort: 'low',
        top_p: 0.9,
      }),
    );
    expect(error.param).toBe('top_p');
  });

  it('has a temperature of 1 and a top_p from 0.95 sent with the thinking', async () => {
    await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      reasoning_effort: 'low',
      temperature: 1,
    });
    expect(sent()).toMatchObject({ thinking: { type: 'enabled' }, temperature: 1 });
    await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      reasoning_effort: 'low',
      top_p: 0.95,
    });
    expect(sent()).toMatchObject({ thinking: { type: 'enabled' }, top_p: 0.95 });
  });

  it('keeps its temperature where it does not ask to reason', async () => {
    await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      reasoning_effort: 'none',
      temperature: 0,
    });
    expect(sent()).toMatchObject({ thinking: { type: 'disabled' }, temperature: 0 });
  });
});

describe('a Responses client asking an Anthropic model to reason', () => {
  it('is refused its temperature rather than told it was applied', async () => {
    const error = await refusal(
      openai.responses.create({
        model: MODEL,
        input: 'hi',
        store: false,
        temperature: 0.5,
        top_p: 0.9,
        reasoning: { effort: 'low' },
      }),
    );
    expect(error.param).toBe('temperature');
  });

  it('is answered with the settings that were applied', async () => {
    const answer = await openai.responses.create({
      model: MODEL,
      input: 'hi',
      store: false,
      top_p: 0.97,
      reasoning: { effort: 'low' },
    });
    expect(sent()).toMatchObject({ thinking: { type: 'enabled' }, top_p: 0.97 });
    expect(sent()).not.toHaveProperty('temperature');
    expect(answer).toMatchObject({ top_p: 0.97, temperature: null });
  });
});

describe('a Gemini client asking an Anthropic model to think', () => {
  const refusedField = async (config: Json): Promise<string> => {
    const before = sentCount();
    const error = await gemini.models.generateContent({ model: MODEL, contents: 'hi', config }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ status: 400 });
    expect(sentCount()).toBe(before);
    const body = JSON.parse((error as Error).message.slice((error as Error).message.indexOf('{')));
    return body.error.details[1].fieldViolations[0].field;
  };

  it('is refused its temperature and top-k, named where Gemini keeps them', async () => {
    expect(await refusedField({ temperature: 0, thinkingConfig: { thinkingBudget: 2048 } })).toBe(
      'generationConfig.temperature',
    );
    expect(await refusedField({ topK: 1, thinkingConfig: { thinkingBudget: 2048 } })).toBe(
      'generationConfig.topK',
    );
    expect(await refusedField({ topP: 0.5, thinkingConfig: { thinkingBudget: 2048 } })).toBe(
      'generationConfig.topP',
    );
  });

  it('is refused its temperature when it asks only to see the thoughts, which turns thinking on', async () => {
    expect(await refusedField({ temperature: 0, thinkingConfig: { includeThoughts: true } })).toBe(
      'generationConfig.temperature',
    );
  });
});

describe("an alias's default temperature, which its client never sent", () => {
  let claude: FakeProvider;
  let kw: TestGateway;
  let client: OpenAI;
  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys: { env: 'PROVIDER_KEY' } },
        ],
        models: [
          {
            name: 'warm',
            provider: 'claude',
            model: 'claude-sonnet-4-5',
            params: { temperature: { default: 0.3 } },
          },
          {
            name: 'hot',
            provider: 'claude',
            model: 'claude-sonnet-4-5',
            params: { temperature: { default: 1.5 } },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
  });
  const last = (): Json => claude.requests.at(-1)!.body as Json;

  it('goes with a request that does not think, and is left out of one that does', async () => {
    await client.chat.completions.create({ model: 'warm', messages: [{ role: 'user', content: 'hi' }] });
    expect(last()).toMatchObject({ temperature: 0.3 });
    await client.chat.completions.create({
      model: 'warm',
      messages: [{ role: 'user', content: 'hi' }],
      reasoning_effort: 'low',
    });
    expect(last()).toMatchObject({ thinking: { type: 'enabled' } });
    expect(last()).not.toHaveProperty('temperature');
  });

  it('is left out the same way for an Anthropic client, whose body goes as it is', async () => {
    const anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
    const ask = { max_tokens: 4000, messages: [{ role: 'user' as const, content: 'hi' }] };
    await anthropic.messages.create({ model: 'warm', ...ask });
    expect(last()).toMatchObject({ temperature: 0.3 });
    for (const thinking of [
      { type: 'enabled' as const, budget_tokens: 2048 },
      { type: 'adaptive' as const },
    ]) {
      await anthropic.messages.create({ model: 'warm', ...ask, thinking });
      expect(last()).toMatchObject({ thinking });
      expect(last()).not.toHaveProperty('temperature');
    }
    await anthropic.messages.create({ model: 'hot', ...ask });
    expect(last()).not.toHaveProperty('temperature');
    // The client's own is the client's: sent as asked (this SDK's types no longer name it).
    const own = { model: 'warm', ...ask, temperature: 0.5 } as Anthropic.MessageCreateParamsNonStreaming;
    await anthropic.messages.create(own);
    expect(last()).toMatchObject({ temperature: 0.5 });
  });

  it("is left out where Anthropic takes none so high, and the client's own is still refused", async () => {
    await client.chat.completions.create({ model: 'hot', messages: [{ role: 'user', content: 'hi' }] });
    expect(last()).not.toHaveProperty('temperature');
    const error = await refusal(
      client.chat.completions.create({
        model: 'warm',
        messages: [{ role: 'user', content: 'hi' }],
        reasoning_effort: 'low',
        temperature: 0.3,
      }),
    );
    expect(error.param).toBe('temperature');
  });
});
