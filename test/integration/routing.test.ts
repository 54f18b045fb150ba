import Anthropic from '@anthropic-ai/sdk';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

const hello: Script = {
  blocks: [{ type: 'text', text: 'Hello.' }],
  stop: 'end',
  usage: { input: 3, output: 2 },
};

async function post(kw: TestGateway, path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await request(`${kw.dataUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}`, ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Hi' }],
  ...extra,
});

describe('routing: aliases, balancing, fallbacks, per-alias policy', () => {
  let a: FakeProvider;
  let b: FakeProvider;
  let claude: FakeProvider;
  let local: FakeProvider;
  /** The OpenAI fake that can hold back its answer. */
  let slow: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;

  beforeAll(async () => {
    [a, b, claude, local] = await Promise.all([
      startFakeProvider('openai', { keys: [PROVIDER_KEY] }),
      startFakeProvider('openai', { keys: [PROVIDER_KEY] }),
      startFakeProvider('anthropic', { keys: [PROVIDER_KEY] }),
      startFakeProvider('ollama'),
    ]);
    slow = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const keyed = { keys: { env: 'PROVIDER_KEY' }, retries: { maxAttempts: 1 } };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'a', type: 'openai', baseUrl: a.baseUrl, ...keyed },
          { id: 'b', type: 'openai', baseUrl: b.baseUrl, ...keyed },
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, ...keyed },
          { id: 'local', type: 'ollama', baseUrl: local.baseUrl, retries: { maxAttempts: 1 } },
          { id: 'slow', type: 'openai', baseUrl: `${slow.url}/v1`, ...keyed },
        ],
        models: [
          {
            name: 'mix',
            targets: [
              { provider: 'a', model: 'gpt-a', weight: 2 },
              { provider: 'b', model: 'gpt-b', weight: 1 },
            ],
          },
          {
            name: 'policy',
            provider: 'a',
            model: 'gpt-a',
            params: { maxTokens: { default: 256, max: 1000 }, temperature: { default: 0.3 } },
          },
          // The provider's own deadline is the default ten minutes; the alias's is 300 ms.
          { name: 'impatient', provider: 'slow', model: 'gpt-a', timeoutMs: 300 },
          {
            name: 'to-local',
            provider: 'local',
            model: 'llama3.2',
            fallbacks: [{ provider: 'a', model: 'gpt-a' }],
          },
          {
            name: 'then-local',
            provider: 'claude',
            model: 'claude-x',
            fallbacks: [{ provider: 'local', model: 'llama3.2' }],
          },
          {
            name: 'claude-then-a',
            provider: 'claude',
            model: 'claude-x',
            fallbacks: [{ provider: 'a', model: 'gpt-a' }],
          },
          { name: 'a-then-b', provider: 'a', model: 'gpt-a', fallbacks: [{ provider: 'b', model: 'gpt-b' }] },
          // Claude Code sends bare Claude names: they reach the Anthropic provider as sent.
          { name: 'claude-*', provider: 'claude', model: '*' },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all([a, b, claude, local, slow].map((fake) => fake?.close()));
  });

  it('shares an alias between weighted targets: 2:1 over every three requests', async () => {
    a.script(hello);
    b.script(hello);
    const before = [a.requests.length, b.requests.length];
    for (let i = 0; i < 6; i++)
      expect((await post(kw, '/v1/chat/completions', chat('mix'))).status).toBe(200);
    expect([a.requests.length - before[0]!, b.requests.length - before[1]!]).toEqual([4, 2]);
    expect(b.requests.at(-1)!.body).toMatchObject({ model: 'gpt-b' });
  });

  it("fills the alias's defaults and lowers a larger max_tokens to its cap, on either surface", async () => {
    a.script(hello);
    await post(kw, '/v1/chat/completions', chat('policy'));
    expect(a.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 256, temperature: 0.3 });
    await post(kw, '/v1/chat/completions', chat('policy', { max_tokens: 5000, temperature: 1 }));
    expect(a.requests.at(-1)!.body).toMatchObject({ max_tokens: 1000, temperature: 1 });
    const viaMessages = await post(
      kw,
      '/v1/messages',
      { model: 'policy', max_tokens: 4096, messages: [{ role: 'user', content: 'Hi' }] },
      { 'anthropic-version': '2023-06-01' },
    );
    expect(viaMessages.status).toBe(200);
    expect(a.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 1000, temperature: 0.3 });
  });

  it("holds the whole exchange to the alias's own timeout", async () => {
    slow.script({ delayHeadersMs: 5_000 });
    const res = await post(kw, '/v1/chat/completions', chat('impatient'));
    expect(res).toMatchObject({
      status: 504,
      body: { error: { type: 'timeout_error', code: 'provider_timeout' } },
    });
  });

  it('serves from a fallback what the first target cannot carry; else refuses, naming the field', async () => {
    const sent = local.requests.length;
    const image = {
      role: 'user',
      content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }],
    };
    a.script(hello);
    const served = await post(kw, '/v1/chat/completions', { model: 'to-local', messages: [image] });
    expect(served.status).toBe(200);
    expect(a.requests.at(-1)!.body).toMatchObject({ messages: [image] });

    a.script({ ...hello, fault: { kind: 'status', status: 503 } });
    // The system message is hoisted out of the conversation: the field is still named as sent.
    const system = { role: 'system', content: 'Be brief.' };
    const res = await post(kw, '/v1/chat/completions', { model: 'to-local', messages: [system, image] });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({
      error: {
        type: 'invalid_request_error',
        code: 'unsupported_for_provider',
        param: 'messages[1].content[0]',
        message: expect.stringContaining('base64'),
      },
    });
    expect(local.requests.length).toBe(sent);
  });

  it('skips a fallback that cannot carry the request: the primary failure stands', async () => {
    claude.script({ ...hello, fault: { kind: 'status', status: 529 } });
    const sent = local.requests.length;
    const res = await post(
      kw,
      '/v1/messages',
      {
        model: 'then-local',
        max_tokens: 100,
        messages: [
          {
            role: 'user',
            content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }],
          },
        ],
      },
      { 'anthropic-version': '2023-06-01' },
    );
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      type: 'error',
      error: { type: 'overloaded_error', message: 'The provider is overloaded (HTTP 529); retry later' },
    });
    expect(local.requests.length).toBe(sent);
  });

  it("takes no fallback from a stream whose first event is the provider's refusal of the request", async () => {
    const stream = chat('claude-then-a', { stream: true, max_tokens: 100 });
    claude.script({ ...hello, fault: { kind: 'error_event', afterEvents: 0, status: 400 } });
    const sent = a.requests.length;
    const refused = await post(kw, '/v1/chat/completions', stream);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ error: { code: 'provider_rejected_request' } });
    expect(a.requests.length).toBe(sent);

    // The provider's own trouble is worth the next target, as a status outside a stream is: an
    // overloaded provider, or an account out of credit (Anthropic's billing_error, a 402).
    a.script(hello);
    for (const [i, status] of [529, 402].entries()) {
      claude.script({ ...hello, fault: { kind: 'error_event', afterEvents: 0, status } });
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
        body: JSON.stringify(stream),
      });
      expect(res.statusCode, `${status}`).toBe(200);
      expect(await res.body.text()).toMatch(/data: \[DONE\]\s*$/);
      expect(a.requests.length).toBe(sent + 1 + i);
    }
  });

  it("takes no fallback from an OpenAI stream whose first event is the client's fault, which OpenAI names in words", async () => {
    const tooLong =
      "This model's maximum context length is 128000 tokens. However, your messages resulted in 200000 tokens. Please reduce the length of the messages.";
    const sent = b.requests.length;
    // Passed through to an OpenAI client, and translated for an Anthropic one.
    for (const surface of ['/v1/chat/completions', '/v1/messages']) {
      a.script({
        ...hello,
        fault: {
          kind: 'error_event',
          afterEvents: 0,
          status: 400,
          code: 'context_length_exceeded',
          message: tooLong,
        },
      });
      const refused = await post(kw, surface, chat('a-then-b', { stream: true, max_tokens: 100 }), {
        'anthropic-version': '2023-06-01',
      });
      expect(refused.status, surface).toBe(400);
      expect(JSON.stringify(refused.body)).toContain('invalid_request_error');
      expect(b.requests.length, surface).toBe(sent);
      // Told as the same refusal outside a stream is: its code, and the counts a client compacts on.
      const { error } = refused.body as { error: { code?: string; message: string } };
      if (surface === '/v1/messages')
        expect(error.message).toContain('prompt is too long: 200000 tokens > 128000 maximum');
      else expect(error.code).toBe('context_length_exceeded');
    }

    // The provider's trouble, and its key's or account's, are worth the next target as outside a
    // stream: a server error, a rate limit, an account out of credit, a refused key.
    b.script(hello);
    const faults = [
      { status: 500 },
      { status: 429 },
      { status: 429, code: 'insufficient_quota', message: 'You exceeded your current quota.' },
      { status: 401 },
    ];
    for (const [i, fault] of faults.entries()) {
      a.script({ ...hello, fault: { kind: 'error_event', afterEvents: 0, ...fault } });
      const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${CLIENT_KEY}` },
        body: JSON.stringify(chat('a-then-b', { stream: true })),
      });
      expect(res.statusCode, JSON.stringify(fault)).toBe(200);
      expect(await res.body.text()).toMatch(/data: \[DONE\]\s*$/);
      expect(b.requests.length).toBe(sent + 1 + i);
    }
    // None of those events takes a's only key out of rotation (a stream's error event never cools
    // a key): a's next request is served by it.
    a.script(hello);
    const served = await post(kw, '/v1/chat/completions', chat('policy'));
    expect(served.status).toBe(200);
    expect(a.requests.at(-1)?.headers.authorization).toBe(`Bearer ${PROVIDER_KEY}`);
  });

  it('answers the Anthropic surface in its own envelope, before and after authentication', async () => {
    const anthropic = new Anthropic({
      baseURL: kw.dataUrl,
      apiKey: 'kw-wrong-key-0000000000000000',
      maxRetries: 0,
    });
    await expect(
      anthropic.messages.create({
        model: 'mix',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'Hi' }],
      }),
    ).rejects.toMatchObject({
      status: 401,
      error: { type: 'error', error: { type: 'authentication_error' } },
    });
    const unknown = await post(kw, '/v1/messages', {
      model: 'nope',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(unknown).toMatchObject({
      status: 404,
      body: { type: 'error', error: { type: 'not_found_error' } },
    });
    const invalid = await post(kw, '/v1/messages', { model: 'mix', messages: [] });
    expect(invalid).toMatchObject({
      status: 400,
      body: { type: 'error', error: { type: 'invalid_request_error' } },
    });
  });

  it("takes Claude Code's requests: the beta query flag, beta headers and x-api-key", async () => {
    claude.script(hello);
    const res = await request(`${kw.dataUrl}/v1/messages?beta=true`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': CLIENT_KEY,
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,not-a-real-beta-2099-01-01',
      },
      body: JSON.stringify({
        model: 'claude-sonnet-4-5-20250929',
        max_tokens: 32000,
        stream: true,
        system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] },
        ],
        metadata: { user_id: 'user_abc_account_def_session_ghi' },
      }),
    });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toContain('event: message_stop');
    const upstream = claude.requests.at(-1)!;
    expect(upstream.headers['anthropic-beta']).toBe('claude-code-20250219,interleaved-thinking-2025-05-14');
    expect(upstream.headers['x-api-key']).toBe(PROVIDER_KEY);
    expect(upstream.body).toMatchObject({
      model: 'claude-sonnet-4-5-20250929',
      metadata: { user_id: 'user_abc_account_def_session_ghi' },
    });
  });

  it('refuses embeddings for a provider that has none', async () => {
    const res = await post(kw, '/v1/embeddings', { model: 'claude/voyage', input: 'x' });
    expect(res).toMatchObject({
      status: 400,
      body: { error: { code: 'unsupported_for_provider', param: 'model' } },
    });
  });
});
