import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const turn: Script = {
  blocks: [{ type: 'text', text: 'Done.' }],
  stop: 'end',
  usage: { input: 1_000, output: 100 },
};
/** At gpt-4o's list prices, in micro-dollars: 1,000 input × 2.5 and 100 output × 10. */
const GPT_4O = 1_000 * 2.5 + 100 * 10;
/** At claude-sonnet-4's: 1,000 × 3 and 100 × 15. */
const SONNET = 1_000 * 3 + 100 * 15;
/** At the configured Opus price: 1,000 × 5 and 100 × 25. */
const OPUS = 1_000 * 5 + 100 * 25;

/**
 * Options a provider bills beyond tokens: fast processing (OpenAI's priority tier, Anthropic's
 * fast mode) at a multiple of a model's rates, Anthropic's web search per search. Priced as
 * billed, or a client could spend several times its budget by asking for them.
 */
describe('options billed beyond tokens are charged at their own price', () => {
  let openai: FakeProvider;
  let claude: FakeProvider;
  let kw: TestGateway;
  let minted = 0;

  beforeAll(async () => {
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    openai.script(turn);
    claude.script(turn);
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys },
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys },
        ],
        models: [
          { name: 'gpt', provider: 'openai', model: 'gpt-4o' },
          { name: 'opus', provider: 'claude', model: 'claude-opus-4-6' },
          { name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' },
        ],
        pricing: { 'claude-opus-4-6': { input: 5, output: 25, fast: 6 } },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await openai?.close();
    await claude?.close();
  });

  /** A token of its own per case, so its usage row is the case's alone; held to a budget unless told. */
  async function token(budget = true): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `fast-${++minted}`,
      ...(budget && { budget: { usd: 100, period: 'day' } }),
    });
    expect(res.status).toBe(201);
    return res.json;
  }

  const costOf = async (tokenId: string): Promise<number | undefined> =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0]
      ?.costMicros;

  const openAIClient = (apiKey: string) => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey, maxRetries: 0 });
  const anthropicClient = (apiKey: string) => new Anthropic({ baseURL: kw.dataUrl, apiKey, maxRetries: 0 });
  const messages = [{ role: 'user' as const, content: 'Quickly, please.' }];

  it("charges OpenAI's priority tier, by either of its names, at twice the model's rates, and sends it on", async () => {
    const standard = await token();
    await openAIClient(standard.token).chat.completions.create({ model: 'gpt', max_tokens: 200, messages });
    await expect.poll(() => costOf(standard.id)).toBe(GPT_4O);

    const priority = await token();
    const from = openai.requests.length;
    await openAIClient(priority.token).chat.completions.create({
      model: 'gpt',
      max_tokens: 200,
      messages,
      service_tier: 'priority',
    });
    // `fast` is the tier's newer name; the SDK's types do not know it yet.
    const res = await fetch(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${priority.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt', max_tokens: 200, messages, service_tier: 'fast', stream: true }),
    });
    expect(res.status).toBe(200);
    await res.text();
    await expect.poll(() => costOf(priority.id)).toBe(2 * 2 * GPT_4O);
    const sent = openai.requests.slice(from).map((r) => (r.body as { service_tier?: string }).service_tier);
    expect(sent).toEqual(['priority', 'fast']);
  });

  it('sends the priority tier from the Responses API to an OpenAI-format provider and charges it there only', async () => {
    const priority = await token();
    const from = openai.requests.length;
    const client = openAIClient(priority.token);
    await client.responses.create({ model: 'gpt', input: 'Quickly, please.', service_tier: 'priority' });
    const stream = await client.responses.create({
      model: 'gpt',
      input: 'Quickly, please.',
      service_tier: 'priority',
      stream: true,
    });
    for await (const _event of stream);
    await expect.poll(() => costOf(priority.id)).toBe(2 * 2 * GPT_4O);
    const sent = openai.requests.slice(from).map((r) => (r.body as { service_tier?: string }).service_tier);
    expect(sent).toEqual(['priority', 'priority']);

    // Translated to Anthropic, the tier is left out and the standard rates apply.
    const translated = await token();
    const fromClaude = claude.requests.length;
    await openAIClient(translated.token).responses.create({
      model: 'sonnet',
      input: 'Quickly, please.',
      service_tier: 'priority',
    });
    await expect.poll(() => costOf(translated.id)).toBe(SONNET);
    expect(claude.requests[fromClaude]!.body).not.toHaveProperty('service_tier');
  });

  it("charges Anthropic's fast mode at the multiple configured for the model, streamed and not", async () => {
    const fast = await token();
    const client = anthropicClient(fast.token);
    await client.messages.create({ model: 'opus', max_tokens: 200, messages, speed: 'fast' });
    await client.messages.stream({ model: 'opus', max_tokens: 200, messages, speed: 'fast' }).finalMessage();
    await expect.poll(() => costOf(fast.id)).toBe(2 * 6 * OPUS);
    expect((claude.requests.at(-1)!.body as { speed?: string }).speed).toBe('fast');

    const standard = await token();
    await anthropicClient(standard.token).messages.create({ model: 'opus', max_tokens: 200, messages });
    await expect.poll(() => costOf(standard.id)).toBe(OPUS);
  });

  /**
   * `asked` is refused to a budget-held token (403 naming `words`, nothing sent upstream); without
   * a budget there is no ceiling to hold, and it is served and recorded at the price known (`cost`).
   */
  async function refusedToBudgetsOnly(
    asked: Anthropic.MessageCreateParamsNonStreaming,
    words: string[],
    cost: number,
  ) {
    const budgeted = await token();
    const calls = claude.requests.length;
    const refused = await anthropicClient(budgeted.token)
      .messages.create(asked)
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(Anthropic.PermissionDeniedError);
    const { error } = (refused as InstanceType<typeof Anthropic.PermissionDeniedError>).error as {
      error: { message: string };
    };
    for (const word of words) expect(error.message).toContain(word);
    expect(claude.requests.length).toBe(calls);
    const unlimited = await token(false);
    await anthropicClient(unlimited.token).messages.create(asked);
    await expect.poll(() => costOf(unlimited.id)).toBe(cost);
  }

  it('refuses fast mode to a budget when no price says what it costs, and charges it as priced without one', async () => {
    await refusedToBudgetsOnly(
      { model: 'sonnet', max_tokens: 200, messages, speed: 'fast' },
      ["Fast processing of model 'claude-sonnet-4-5'", "sets 'fast'"],
      SONNET,
    );
  });

  it('charges a translated request at the standard rates: the option is not sent to another format', async () => {
    const translated = await token();
    const from = claude.requests.length;
    await openAIClient(translated.token).chat.completions.create({
      model: 'sonnet',
      max_tokens: 200,
      messages,
      service_tier: 'priority',
    });
    await expect.poll(() => costOf(translated.id)).toBe(SONNET);
    const sent = claude.requests[from]!.body as Record<string, unknown>;
    expect(sent).not.toHaveProperty('speed');
    expect(sent).not.toHaveProperty('service_tier');
  });

  const webSearch = (max_uses?: number): Anthropic.WebSearchTool20250305 => ({
    type: 'web_search_20250305',
    name: 'web_search',
    ...(max_uses !== undefined && { max_uses }),
  });
  /** Three searches at $10 per 1,000, in micro-dollars. */
  const SEARCHES = 3 * 10_000;

  it("charges Anthropic's web searches at $10 per 1,000, streamed and not", async () => {
    claude.script({ ...turn, usage: { ...turn.usage, webSearches: 3 } });
    try {
      const searching = await token();
      const client = anthropicClient(searching.token);
      const asked = { model: 'sonnet', max_tokens: 200, messages, tools: [webSearch(5)] };
      const message = await client.messages.create(asked);
      expect(message.usage.server_tool_use?.web_search_requests).toBe(3);
      const streamed = await client.messages.stream(asked).finalMessage();
      expect(streamed.usage.server_tool_use?.web_search_requests).toBe(3);
      await expect.poll(() => costOf(searching.id)).toBe(2 * (SONNET + SEARCHES));
    } finally {
      claude.script(turn);
    }
  });

  // Held to a budget or not (nothing limits it, or limits without a budget): the usage recorded for
  // the same exchange is the same.
  it.each([true, false])(
    'charges a stream cut before its search count the searches its tool allowed (budget: %s)',
    async (budget) => {
      claude.script({
        ...turn,
        usage: { ...turn.usage, webSearches: 3 },
        fault: { kind: 'cut', afterEvents: 3 },
      });
      try {
        const cut = await token(budget);
        const stream = anthropicClient(cut.token).messages.stream({
          model: 'sonnet',
          max_tokens: 200,
          messages,
          tools: [webSearch(5)],
        });
        await expect(stream.finalMessage()).rejects.toThrow();
        // message_start's input count, the output reserved (max_tokens) and the five searches allowed.
        await expect.poll(() => costOf(cut.id)).toBe(1_000 * 3 + 200 * 15 + 5 * 10_000);
      } finally {
        claude.script(turn);
      }
    },
  );

  it('refuses web search to a budget when no price says what a search costs', async () => {
    await refusedToBudgetsOnly(
      { model: 'opus', max_tokens: 200, messages, tools: [webSearch()] },
      ["Web searches by model 'claude-opus-4-6'", "sets 'webSearch'"],
      OPUS,
    );
  });
});

/**
 * Gemini's grounding tools (Google Search, Maps) are billed per grounded prompt or search query
 * beside tokens: a budget counts the queries the answer reports, at the model's `webSearch` price.
 */
describe("Gemini's grounding is charged per search query", () => {
  let gemini: FakeProvider;
  let kw: TestGateway;
  let minted = 0;
  const grounded: Script = { ...turn, grounding: { queries: ['weather in Paris', 'Paris forecast'] } };
  /** At gemini-2.5-flash's list prices: 1,000 input × 0.3 and 100 output × 2.5, in micro-dollars. */
  const FLASH = 1_000 * 0.3 + 100 * 2.5;
  /** Two queries at $35 per 1,000. */
  const QUERIES = 2 * 35_000;

  beforeAll(async () => {
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'g', type: 'gemini', baseUrl: gemini.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [
          { name: 'flash', provider: 'g', model: 'gemini-2.5-flash' },
          { name: 'lite', provider: 'g', model: 'gemini-2.0-flash-lite' },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await gemini?.close();
  });

  async function budgeted(): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `grounded-${++minted}`,
      budget: { usd: 100, period: 'day' },
    });
    expect(res.status).toBe(201);
    return res.json;
  }
  const costOf = async (tokenId: string): Promise<number | undefined> =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0]
      ?.costMicros;
  const client = (apiKey: string) => new GoogleGenAI({ apiKey, httpOptions: { baseUrl: kw.dataUrl } });

  it('charges the queries a grounded answer reports, streamed and not', async () => {
    gemini.script(grounded, grounded);
    const token = await budgeted();
    const ai = client(token.token);
    const asked = {
      model: 'flash',
      contents: 'Weather in Paris?',
      config: { tools: [{ googleSearch: {} }] },
    };
    const answer = await ai.models.generateContent(asked);
    expect(answer.candidates?.[0]?.groundingMetadata?.webSearchQueries).toEqual(grounded.grounding!.queries);
    let chunks = 0;
    for await (const _chunk of await ai.models.generateContentStream(asked)) chunks++;
    expect(chunks).toBeGreaterThan(0);
    await expect.poll(() => costOf(token.id)).toBe(2 * (FLASH + QUERIES));
  });

  it('refuses a grounding tool to a budget when no price says what a search costs', async () => {
    const token = await budgeted();
    const from = gemini.requests.length;
    await expect(
      client(token.token).models.generateContent({
        model: 'lite',
        contents: 'Weather in Paris?',
        config: { tools: [{ googleSearch: {} }] },
      }),
    ).rejects.toMatchObject({ status: 403 });
    expect(gemini.requests.length).toBe(from);
  });
});

/**
 * OpenAI's search models run a web search on every Chat Completions call, billed per call beside
 * tokens, and their usage does not count it: each call is charged one search at the model's
 * `webSearch` price, reserved for budgets, and refused to a budget when no price names it.
 */
describe("OpenAI's search models are charged a search per call", () => {
  let openai: FakeProvider;
  let kw: TestGateway;
  let minted = 0;
  /** At gpt-4o-search-preview's built-in prices: 1,000 input × 2.5, 100 output × 10, one search at $50 per 1,000. */
  const SEARCH_4O = 1_000 * 2.5 + 100 * 10 + 50_000;
  /** At the configured gpt-4o-mini-search-preview price: 1,000 × 0.15, 100 × 0.6, one search at $25 per 1,000. */
  const SEARCH_MINI = 1_000 * 0.15 + 100 * 0.6 + 25_000;
  const messages = [{ role: 'user' as const, content: 'Weather in Paris?' }];

  beforeAll(async () => {
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    openai.script(turn);
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [{ id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys: { env: 'PROVIDER_KEY' } }],
        models: [
          { name: 'search', provider: 'openai', model: 'gpt-4o-search-preview-2025-03-11' },
          { name: 'search-mini', provider: 'openai', model: 'gpt-4o-mini-search-preview' },
          { name: 'search-5', provider: 'openai', model: 'gpt-5-search-api' },
        ],
        pricing: {
          'gpt-4o-mini-search-preview': { input: 0.15, output: 0.6, webSearch: 25 },
          // Token rates only, as a budget needed before searches were charged.
          'gpt-5-search-api': { input: 1.25, output: 10 },
        },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await openai?.close();
  });

  async function token(usd?: number): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `search-${++minted}`,
      ...(usd !== undefined && { budget: { usd, period: 'day' } }),
    });
    expect(res.status).toBe(201);
    return res.json;
  }
  const costOf = async (tokenId: string): Promise<number | undefined> =>
    (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`)).json.rows[0]
      ?.costMicros;
  const client = (apiKey: string) => new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey, maxRetries: 0 });

  it('charges each call to a built-in search model its search, streamed and not, whatever web_search_options says', async () => {
    const searching = await token(100);
    const from = openai.requests.length;
    const asked = {
      model: 'search',
      max_tokens: 200,
      messages,
      web_search_options: { search_context_size: 'high' as const },
    };
    await client(searching.token).chat.completions.create(asked);
    let chunks = 0;
    for await (const _chunk of await client(searching.token).chat.completions.create({
      ...asked,
      stream: true,
    }))
      chunks++;
    expect(chunks).toBeGreaterThan(0);
    await expect.poll(() => costOf(searching.id)).toBe(2 * SEARCH_4O);
    const sent = openai.requests
      .slice(from)
      .map((r) => (r.body as Record<string, unknown>).web_search_options);
    expect(sent).toEqual([asked.web_search_options, asked.web_search_options]);
  });

  it("charges a search model's call the search at the operator's price when one is configured", async () => {
    const searching = await token(100);
    await client(searching.token).chat.completions.create({
      model: 'search-mini',
      max_tokens: 200,
      messages,
    });
    await expect.poll(() => costOf(searching.id)).toBe(SEARCH_MINI);
  });

  it('refuses a search model to a budget that cannot cover its search, sending nothing', async () => {
    // $0.01 holds the call's tokens (about 125 micro-dollars reserved) but not its $0.025 search.
    const short = await token(0.01);
    const from = openai.requests.length;
    await expect(
      client(short.token).chat.completions.create({ model: 'search-mini', max_tokens: 200, messages }),
    ).rejects.toMatchObject({ status: 429, code: 'budget_exceeded' });
    expect(openai.requests.length).toBe(from);
  });

  it('refuses a search model whose price names no search fee to a budget, and serves it without one', async () => {
    const budgeted = await token(100);
    const from = openai.requests.length;
    const refused = await client(budgeted.token)
      .chat.completions.create({ model: 'search-5', max_tokens: 200, messages })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const { message } = refused as InstanceType<typeof OpenAI.PermissionDeniedError>;
    expect(message).toContain("'gpt-5-search-api'");
    expect(message).toContain("'pricing'");
    expect(message).toContain("'webSearch'");
    expect(openai.requests.length).toBe(from);

    const unlimited = await token();
    await client(unlimited.token).chat.completions.create({ model: 'search-5', max_tokens: 200, messages });
    // Its tokens at the configured rates: 1,000 × 1.25 and 100 × 10; the search has no price to charge.
    await expect.poll(() => costOf(unlimited.id)).toBe(1_000 * 1.25 + 100 * 10);
  });
});
