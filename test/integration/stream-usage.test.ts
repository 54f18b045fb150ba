import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { REPLY_PREFIX, startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * `streamUsage` on an `openai-compatible` provider: its streams are asked for their usage
 * (`stream_options.include_usage`) and charged what the server reports, while a client that did not
 * ask never sees the usage-only chunk. Without the setting the server is not asked, and usage it
 * streams anyway is still what the request is charged.
 */

const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Hi' }];
/** What the fake reports for `messages`: a quarter of the characters plus 3 per message, and of its reply. */
const REPORTED = {
  inputTokens: Math.ceil('Hi'.length / 4) + 3,
  outputTokens: Math.ceil(`${REPLY_PREFIX} You said 2 characters.`.length / 4),
};
const MAX_TOKENS = 300;

/** A stream answered exactly as `events` (each a JSON text), then `data: [DONE]`. */
function sse(events: unknown[]) {
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream' },
    body: `${events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join('')}data: [DONE]\n\n`,
  };
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
  id: 'c1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, finish_reason: finish }],
});

describe('stream usage from openai-compatible providers', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ requireAuth: false });
    const compatible = (id: string, streamUsage?: boolean) => ({
      id,
      type: 'openai-compatible' as const,
      baseUrl: `${fake.url}/v1`,
      ...(streamUsage !== undefined && { streamUsage }),
      retries: { maxAttempts: 1 },
    });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [compatible('asked', true), compatible('unasked')],
        pricing: { m: { input: 1, output: 2 } },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });
  afterEach(() => fake.reset());

  /** A client whose token has a usage row of its own. */
  async function clientFor(name: string) {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name,
      budget: { usd: 100, period: 'day' },
    });
    expect(res.status).toBe(201);
    const { id, token } = res.json as { id: string; token: string };
    return {
      openai: new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 }),
      anthropic: new Anthropic({ baseURL: kw.dataUrl, apiKey: token, maxRetries: 0 }),
      charged: async () => {
        const rows = (await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${id}`)).json.rows;
        return rows[0] as { requests: number; inputTokens: number; outputTokens: number } | undefined;
      },
    };
  }

  const upstreamBody = (index: number) => fake.requests[index]?.body as Record<string, unknown>;

  async function streamChunks(
    client: OpenAI,
    model: string,
    extra: Partial<OpenAI.ChatCompletionCreateParamsStreaming> = {},
  ) {
    const stream = await client.chat.completions.create({
      model,
      messages,
      max_tokens: MAX_TOKENS,
      stream: true,
      ...extra,
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const part of stream) chunks.push(part);
    return chunks;
  }

  it('asks a provider with streamUsage, charges the reported usage and keeps the usage chunk from a client that did not ask', async () => {
    const client = await clientFor('asked-relayed');
    const chunks = await streamChunks(client.openai, 'asked/m');
    expect(upstreamBody(0).stream_options).toEqual({ include_usage: true });
    // Client code commonly reads choices[0] of every chunk: the usage-only chunk must not reach it.
    for (const part of chunks) {
      expect(part.choices[0]).toBeDefined();
      expect(part.usage ?? undefined).toBeUndefined();
    }
    expect(chunks.map((part) => part.choices[0]?.delta.content ?? '').join('')).toContain(REPLY_PREFIX);
    await expect
      .poll(client.charged, { timeout: 5000 })
      .toEqual(expect.objectContaining({ requests: 1, ...REPORTED }));
  });

  it('gives the usage chunk to a client that asked for it', async () => {
    const client = await clientFor('asked-included');
    const chunks = await streamChunks(client.openai, 'asked/m', {
      stream_options: { include_usage: true },
    });
    expect(chunks.at(-1)).toMatchObject({
      choices: [],
      usage: { prompt_tokens: REPORTED.inputTokens, completion_tokens: REPORTED.outputTokens },
    });
    await expect
      .poll(client.charged, { timeout: 5000 })
      .toEqual(expect.objectContaining({ requests: 1, ...REPORTED }));
  });

  it('asks for usage when the stream is translated from another surface, and charges it', async () => {
    const client = await clientFor('asked-translated');
    const message = await client.anthropic.messages
      .stream({ model: 'asked/m', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'Hi' }] })
      .finalMessage();
    expect(upstreamBody(0).stream_options).toEqual({ include_usage: true });
    expect(message.usage).toMatchObject({
      input_tokens: REPORTED.inputTokens,
      output_tokens: REPORTED.outputTokens,
    });
    await expect
      .poll(client.charged, { timeout: 5000 })
      .toEqual(expect.objectContaining({ requests: 1, ...REPORTED }));
  });

  it('leaves a provider without streamUsage unasked, charging the reservation when it reports nothing', async () => {
    const client = await clientFor('unasked');
    const chunks = await streamChunks(client.openai, 'unasked/m');
    expect(chunks.length).toBeGreaterThan(0);
    expect(upstreamBody(0)).not.toHaveProperty('stream_options');
    await expect
      .poll(client.charged, { timeout: 5000 })
      .toEqual(expect.objectContaining({ requests: 1, outputTokens: MAX_TOKENS }));
  });

  // vLLM's --enable-force-include-usage, and servers that always end with a usage-only chunk.
  it.each(['relayed', 'translated'])(
    'charges the usage a server streams unasked in a usage-only chunk, which a client that did not ask never sees (%s)',
    async (path) => {
      const client = await clientFor(`unasked-usage-only-${path}`);
      fake.script(
        sse([
          chunk({ role: 'assistant', content: 'ok' }),
          chunk({}, 'stop'),
          { ...chunk({}), choices: [], usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 } },
        ]),
      );
      if (path === 'relayed') {
        const chunks = await streamChunks(client.openai, 'unasked/m');
        for (const part of chunks) expect(part.choices[0]).toBeDefined();
        expect(chunks.map((part) => part.choices[0]?.delta.content ?? '').join('')).toBe('ok');
      } else {
        const message = await client.anthropic.messages
          .stream({ model: 'unasked/m', max_tokens: MAX_TOKENS, messages: [{ role: 'user', content: 'Hi' }] })
          .finalMessage();
        expect(message.usage).toMatchObject({ input_tokens: 11, output_tokens: 5 });
      }
      expect(upstreamBody(0)).not.toHaveProperty('stream_options');
      await expect
        .poll(client.charged, { timeout: 5000 })
        .toEqual(expect.objectContaining({ requests: 1, inputTokens: 11, outputTokens: 5 }));
    },
  );
});
