import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * What a request is charged when its answer goes astray: a client must not be able to spend
 * without a ceiling by cutting streams short, by routing to a provider that reports no usage, or
 * by leaving before the provider answered. Each case runs under a budget (so admission keeps an
 * estimate) and reads the charge back from the usage the admin API reports.
 */

/** The provider bills 5,000 input tokens: more than the small bodies here are estimated at. */
const LONG_PROMPT: Script = {
  blocks: [{ type: 'text', text: 'A fairly long answer, streamed in small pieces.' }],
  stop: 'end',
  usage: { input: 5_000, output: 250 },
};

const MAX_TOKENS = 300;

interface UsageRow {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
}

describe('charging requests whose answer did not come through whole', () => {
  let claude: FakeProvider;
  let compat: FakeProvider;
  let openai: FakeProvider;
  let gemini: FakeProvider;
  let ollama: FakeProvider;
  let kw: TestGateway;
  let minted = 0;

  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    compat = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
    ollama = await startFakeProvider('ollama');
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys },
          // Servers that imitate OpenAI are not asked for a stream's usage, and often send none.
          { id: 'compat', type: 'openai-compatible', baseUrl: compat.baseUrl, keys },
          {
            id: 'compat-slow',
            type: 'openai-compatible',
            baseUrl: compat.baseUrl,
            keys,
            timeouts: { firstByteMs: 300 },
          },
          {
            id: 'compat-idle',
            type: 'openai-compatible',
            baseUrl: compat.baseUrl,
            keys,
            timeouts: { idleMs: 300 },
          },
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, keys, retries: { maxAttempts: 1 } },
          { id: 'gemini', type: 'gemini', baseUrl: gemini.baseUrl, keys },
          { id: 'ollama', type: 'ollama', baseUrl: ollama.baseUrl },
        ],
        models: [
          { name: 'sonnet', provider: 'claude', model: 'claude-sonnet-4-5' },
          { name: 'compat', provider: 'compat', model: 'compat-model' },
          { name: 'slow', provider: 'compat-slow', model: 'compat-model' },
          { name: 'idle', provider: 'compat-idle', model: 'compat-model' },
          { name: 'flash', provider: 'gemini', model: 'compat-model' },
          { name: 'local', provider: 'ollama', model: 'compat-model' },
          { name: 'cheap-claude', provider: 'claude', model: 'compat-model' },
          // A cheap first target, a dear fallback.
          {
            name: 'cheap-then-dear',
            provider: 'compat',
            model: 'compat-model',
            fallbacks: [{ provider: 'claude', model: 'dear-model' }],
          },
          // The first target fills in no output limit, its fallback does (Anthropic's 4,096 max_tokens).
          {
            name: 'mixed',
            provider: 'openai',
            model: 'gpt-4o-mini',
            fallbacks: [{ provider: 'claude', model: 'claude-sonnet-4-5' }],
          },
        ],
        pricing: { 'compat-model': { input: 1, output: 2 }, 'dear-model': { input: 1_000, output: 2_000 } },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
    await compat?.close();
    await openai?.close();
    await gemini?.close();
    await ollama?.close();
  });

  /** A token of its own per case, held to a budget, so its usage row is the case's alone. */
  async function budgeted(): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `charged-${++minted}`,
      budget: { usd: 100, period: 'day' },
      limits: { tpm: 1_000_000 },
    });
    expect(res.status).toBe(201);
    return res.json;
  }

  async function usageOf(tokenId: string): Promise<UsageRow | undefined> {
    const res = await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`);
    return res.json.rows[0];
  }

  function post(path: string, token: string, body: Record<string, unknown>) {
    return request(`${kw.dataUrl}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify(body),
    });
  }

  const messagesBody = (model: string) => ({
    model,
    max_tokens: MAX_TOKENS,
    stream: true,
    messages: [{ role: 'user', content: 'Tell me a story.' }],
  });

  /**
   * What admission reserved for `body`'s input under a budget, and charges when no usage comes: a
   * token a byte, as dense as any tokenizer counts (budget-dense-input.test.ts).
   */
  const estimatedInput = (body: unknown) => Buffer.byteLength(JSON.stringify(body));
  /** What the rate limits take for it: four bytes a token. */
  const rateLimitedInput = (body: unknown) => Math.ceil(estimatedInput(body) / 4);

  const longBody = { ...messagesBody('sonnet'), messages: [{ role: 'user', content: 'x'.repeat(40_000) }] };

  // message_start's input count is exact and stays, even where the body's size estimated more
  // (40,000 tokens for the long body, a token a byte under a budget; the provider counted 5,000,
  // and that is what it bills); its output count (1) was provisional.
  it.each([
    ['a short body', messagesBody('sonnet')],
    ['a body whose size estimates more input', longBody],
  ])(
    'charges a relayed Anthropic stream cut after message_start its output reservation, not 1 token (%s)',
    async (_case, body) => {
      const token = await budgeted();
      claude.script({ ...LONG_PROMPT, fault: { kind: 'cut', afterEvents: 3 } });
      const res = await post('/v1/messages', token.token, body);
      expect(res.statusCode).toBe(200);
      // The client sees the cut as an error event, not a clean stop.
      expect(await res.body.text()).toContain('event: error');
      await expect
        .poll(() => usageOf(token.id), { timeout: 5000 })
        .toMatchObject({ requests: 1, inputTokens: 5_000, outputTokens: MAX_TOKENS });
    },
  );

  it('estimates more than 10,000 input tokens for the long body by its size alone', () => {
    expect(rateLimitedInput(longBody)).toBeGreaterThan(10_000);
  });

  it('charges a relayed Anthropic stream the client leaves after message_start at least its reservation', async () => {
    const token = await budgeted();
    claude.script({ ...LONG_PROMPT, fault: { kind: 'stall', afterEvents: 3 } });
    const res = await post('/v1/messages', token.token, messagesBody('sonnet'));
    expect(res.statusCode).toBe(200);
    for await (const _chunk of res.body) break;
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ requests: 1, inputTokens: 5_000, outputTokens: MAX_TOKENS });
  });

  it('charges a relayed Anthropic stream that finished exactly its usage', async () => {
    const token = await budgeted();
    claude.script(LONG_PROMPT);
    const res = await post('/v1/messages', token.token, messagesBody('sonnet'));
    expect(await res.body.text()).toContain('event: message_stop');
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ requests: 1, inputTokens: 5_000, outputTokens: 250 });
  });

  // Servers imitating OpenAI are not asked for a stream's usage; the others here omit it.
  it.each([
    ['an OpenAI-compatible', 'compat', '/v1/messages', true],
    ['a Gemini', 'flash', '/v1/messages', true],
    ['a Gemini', 'flash', '/v1/messages', false],
    ['an Ollama', 'local', '/v1/messages', true],
    ['an Ollama', 'local', '/v1/messages', false],
    ['an Anthropic', 'cheap-claude', '/v1/chat/completions', true],
    ['an Anthropic', 'cheap-claude', '/v1/chat/completions', false],
    ['an Anthropic', 'cheap-claude', '/v1/messages', true],
    ['an Anthropic', 'cheap-claude', '/v1/messages', false],
  ] as const)(
    'charges an answer from %s server that sends no token counts its reservation, not 0 (model %s, %s, streamed: %s)',
    async (_name, model, path, stream) => {
      const token = await budgeted();
      const provider = { compat, flash: gemini, local: ollama, 'cheap-claude': claude }[model];
      provider.script({ ...LONG_PROMPT, countsOmitted: true });
      const body = { ...messagesBody(model), stream };
      const res = await post(path, token.token, body);
      expect(res.statusCode).toBe(200);
      const answer = await res.body.text();
      if (!stream) expect(answer).toContain('A fairly long answer');
      else expect(answer).toContain(path === '/v1/messages' ? 'event: message_stop' : 'data: [DONE]');
      const input = estimatedInput(body);
      await expect
        .poll(() => usageOf(token.id), { timeout: 5000 })
        .toMatchObject({
          requests: 1,
          inputTokens: input,
          outputTokens: MAX_TOKENS,
          costMicros: input * 1 + MAX_TOKENS * 2,
        });
    },
  );

  it('reserves a budget at the dearest target that may serve the request, not at the first', async () => {
    // Reserved at the first target's price, about 627 micro-dollars would fit a budget that the
    // fallback, at 1,000 times the price, could overrun: a client that makes the first target
    // refuse would be served by the dear one at the cheap one's reservation.
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'cheap-budget',
      budget: { usd: 0.1, period: 'day' },
    });
    const calls = compat.requests.length + claude.requests.length;
    const res = await post('/v1/messages', minted.json.token, {
      ...messagesBody('cheap-then-dear'),
      stream: false,
    });
    expect(res.statusCode).toBe(429);
    expect(await res.body.json()).toMatchObject({ error: { type: 'rate_limit_error' } });
    expect(compat.requests.length + claude.requests.length).toBe(calls);
  });

  it("prices a request that names no output limit at the gateway's ceiling for a budget, which it may run to", async () => {
    // At 2 micro-dollars an output token, the ceiling's 65,536 tokens cost about $0.13: more than
    // the budget. The 1,024 tokens the rate limits take for such a request would cost $0.002.
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'unbounded-budget',
      budget: { usd: 0.1, period: 'day' },
    });
    const chat = (extra: Record<string, unknown>) =>
      post('/v1/chat/completions', minted.json.token, {
        model: 'compat',
        messages: [{ role: 'user', content: 'Tell me a story.' }],
        ...extra,
      });
    const calls = compat.requests.length;
    const unbounded = await chat({});
    expect(unbounded.statusCode).toBe(429);
    expect(await unbounded.body.json()).toMatchObject({ error: { code: 'budget_exceeded' } });
    expect(compat.requests.length).toBe(calls);
    compat.script(LONG_PROMPT);
    const bounded = await chat({ max_tokens: MAX_TOKENS });
    expect(bounded.statusCode).toBe(200);
    await bounded.body.dump();
  });

  it.each([
    ['/v1/chat/completions', { messages: [{ role: 'user', content: 'Hi' }] }],
    ['/v1/responses', { input: 'Hi', store: false }],
  ])(
    'charges a stream with no output limit, cut before its usage, the ceiling a budget reserved, not 1,024 tokens (%s)',
    async (path, rest) => {
      // OpenAI-format streams tell usage only at their end: a client that reads nearly all of a
      // long answer and leaves before it must not pay for 1,024 tokens of it.
      const token = await budgeted();
      compat.script({ ...LONG_PROMPT, fault: { kind: 'cut', afterEvents: 3 } });
      const res = await post(path, token.token, { model: 'compat', stream: true, ...rest });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      await expect
        .poll(() => usageOf(token.id), { timeout: 5000 })
        .toMatchObject({ requests: 1, outputTokens: 65_536 });
    },
  );

  it('reserves a request that names its input by URL or file id at the context window, not at its bytes', async () => {
    // At $1 a million input tokens, the 200,000-token window costs $0.20: more than the budget. A
    // PDF or an hour of video named by URL costs what the provider reads, not the body's bytes.
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'remote-input',
      budget: { usd: 0.1, period: 'day' },
    });
    const chat = (image: string, model = 'compat') =>
      post('/v1/chat/completions', minted.json.token, {
        model,
        max_tokens: MAX_TOKENS,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this picture?' },
              { type: 'image_url', image_url: { url: image } },
            ],
          },
        ],
      });
    const calls = compat.requests.length;
    const remote = await chat('https://images.example.com/cat.png');
    expect(remote.statusCode).toBe(429);
    expect(await remote.body.json()).toMatchObject({ error: { code: 'budget_exceeded' } });
    expect(compat.requests.length).toBe(calls);
    // An image carried inline is weighed by what its model counts for one image: bounded for
    // Claude (and OpenAI's models), so a small budget still takes one; an OpenAI-compatible
    // server's model counts its own way, unbounded, and is reserved at the window too.
    const pixel =
      'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    const inline = await chat(pixel, 'sonnet');
    expect(inline.statusCode).toBe(200);
    await inline.body.dump();
    const unbounded = await chat(pixel);
    expect(unbounded.statusCode).toBe(429);
    expect(compat.requests.length).toBe(calls);
  });

  it('charges a request that timed out after it reached the provider its reservation', async () => {
    const token = await budgeted();
    compat.script({ ...LONG_PROMPT, fault: { kind: 'hang' } });
    const body = { ...messagesBody('slow'), stream: false };
    const res = await post('/v1/messages', token.token, body);
    expect(res.statusCode).toBe(504);
    await res.body.dump();
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ requests: 1, inputTokens: estimatedInput(body), outputTokens: MAX_TOKENS });
  });

  it('charges a stream that went quiet before its first event its reservation, not 0', async () => {
    const token = await budgeted();
    // The provider answered 200 and then nothing: it may bill what it did until the idle timeout.
    compat.script({ ...LONG_PROMPT, fault: { kind: 'stall', afterEvents: 0 } });
    const body = messagesBody('idle');
    const res = await post('/v1/messages', token.token, body);
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    await res.body.dump();
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ requests: 1, inputTokens: estimatedInput(body), outputTokens: MAX_TOKENS });
  });

  it('charges a request the client left after it reached the provider its reservation', async () => {
    const token = await budgeted();
    compat.script({ ...LONG_PROMPT, fault: { kind: 'hang' } });
    const body = { ...messagesBody('compat'), stream: false };
    const received = compat.requests.length;
    const controller = new AbortController();
    const answer = request(`${kw.dataUrl}/v1/messages`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token.token}`,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    await expect.poll(() => compat.requests.length).toBe(received + 1);
    controller.abort();
    await expect(answer).rejects.toThrow();
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ requests: 1, inputTokens: estimatedInput(body), outputTokens: MAX_TOKENS });
  });

  it('reserves the max_tokens an Anthropic target is sent when the client names none, thinking included', async () => {
    const tpm = 1_000_000;
    for (const extra of [{}, { reasoning_effort: 'low' }]) {
      const token = await budgeted();
      claude.script(LONG_PROMPT);
      const body = { model: 'sonnet', messages: [{ role: 'user', content: 'hi' }], ...extra };
      const res = await post('/v1/chat/completions', token.token, body);
      expect(res.statusCode).toBe(200);
      await res.body.dump();
      const sent = Number((claude.requests.at(-1)?.body as { max_tokens?: number } | undefined)?.max_tokens);
      expect(sent).toBeGreaterThanOrEqual(4096);
      const reserved = tpm - Number(res.headers['x-ratelimit-remaining-tokens']);
      expect(reserved).toBe(rateLimitedInput(body) + sent);
    }
  });

  const chat = { model: 'mixed', messages: [{ role: 'user', content: 'Tell me a story.' }] };

  it("reserves only the first target's output on a route whose fallback fills in more", async () => {
    const token = await budgeted();
    openai.script(LONG_PROMPT);
    const res = await post('/v1/chat/completions', token.token, chat);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const reserved = 1_000_000 - Number(res.headers['x-ratelimit-remaining-tokens']);
    expect(reserved).toBeLessThan(4096);
  });

  it('charges a stream cut on the fallback at least the max_tokens the fallback was sent', async () => {
    const token = await budgeted();
    openai.script({ ...LONG_PROMPT, fault: { kind: 'status', status: 500 } });
    claude.script({ ...LONG_PROMPT, fault: { kind: 'cut', afterEvents: 3 } });
    const res = await post('/v1/chat/completions', token.token, { ...chat, stream: true });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    const sent = Number((claude.requests.at(-1)?.body as { max_tokens?: number } | undefined)?.max_tokens);
    expect(sent).toBeGreaterThanOrEqual(4096);
    await expect
      .poll(async () => (await usageOf(token.id))?.outputTokens, { timeout: 5000 })
      .toBeGreaterThanOrEqual(sent);
  });

  it('charges an attempt a gateway timeout answered (504) its reservation, even when a fallback answers', async () => {
    const token = await budgeted();
    // A proxy in front of the provider gave up waiting: the provider may have run (and billed) it.
    openai.script({ ...LONG_PROMPT, fault: { kind: 'status', status: 504 } });
    claude.script(LONG_PROMPT);
    const res = await post('/v1/chat/completions', token.token, chat);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ inputTokens: 5_000 + estimatedInput(chat), outputTokens: expect.any(Number) });
    expect((await usageOf(token.id))!.outputTokens).toBeGreaterThan(250);
  });

  it('charges an attempt that went out and got no answer even when a fallback answers', async () => {
    const token = await budgeted();
    // The first provider takes the request and drops the connection: whether it read it (and
    // bills it) cannot be told, so it is charged its reservation besides the answer's usage.
    openai.script({ ...LONG_PROMPT, fault: { kind: 'reset' } });
    claude.script(LONG_PROMPT);
    const received = openai.requests.length;
    const res = await post('/v1/chat/completions', token.token, chat);
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(openai.requests.length).toBe(received + 1);
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ inputTokens: 5_000 + estimatedInput(chat), outputTokens: expect.any(Number) });
    expect((await usageOf(token.id))!.outputTokens).toBeGreaterThan(250);
  });
});
