import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChatAnthropic } from '@langchain/anthropic';
import type { AIMessageChunk } from '@langchain/core/messages';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * The usage a provider reports as its stream starts (Anthropic's `message_start`, Gemini's first
 * chunk) when the stream is translated to another surface. A stream cut after it is charged the
 * input the provider counted, as the same-format relay charges it, not the body-size estimate;
 * and the Anthropic surface shows it in its own `message_start`, the only place LangChain's
 * ChatAnthropic reads input from.
 */

const MAX_TOKENS = 300;

/** Gemini counts the prompt in every chunk of a stream, the answer so far with it. */
const PROMPT = { promptTokenCount: 1_000, cachedContentTokenCount: 600 };
const FIRST_CHUNK_USAGE = { ...PROMPT, candidatesTokenCount: 1, totalTokenCount: 1_001 };
const FINAL_USAGE = { ...PROMPT, candidatesTokenCount: 200, thoughtsTokenCount: 50, totalTokenCount: 1_250 };

const geminiChunk = (text: string, usageMetadata: object, finishReason?: string) => ({
  candidates: [
    { content: { parts: [{ text }], role: 'model' }, ...(finishReason && { finishReason }), index: 0 },
  ],
  usageMetadata,
  modelVersion: 'gemini-model',
  responseId: 'resp-1',
});

function write(res: ServerResponse, text: string): Promise<void> {
  return new Promise((resolve, reject) => res.write(text, (error) => (error ? reject(error) : resolve())));
}

/**
 * A Gemini provider as the real API streams (usage in every chunk, which the shared fake sends
 * only in the last one): the whole answer, or its first chunk and then a dropped connection.
 */
async function startGemini(): Promise<{ url: string; cut: boolean; close(): Promise<void> }> {
  const state = { cut: false };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      if (!req.url?.includes(':streamGenerateContent')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(geminiChunk('Hello there', FINAL_USAGE, 'STOP')));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const frame = (payload: object) => `data: ${JSON.stringify(payload)}\r\n\r\n`;
      await write(res, frame(geminiChunk('Hel', FIRST_CHUNK_USAGE)));
      if (state.cut) {
        res.destroy();
        return;
      }
      await write(res, frame(geminiChunk('lo there', FINAL_USAGE, 'STOP')));
      res.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
    },
  });
}

interface UsageRow {
  requests: number;
  inputTokens: number;
  cachedTokens: number;
  outputTokens: number;
}

describe('usage a translated stream reported at its start', () => {
  let claude: FakeProvider;
  let gemini: Awaited<ReturnType<typeof startGemini>>;
  let kw: TestGateway;
  let minted = 0;

  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    gemini = await startGemini();
    const keys = { env: 'PROVIDER_KEY' };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, keys, retries: { maxAttempts: 1 } },
          {
            id: 'gemini',
            type: 'gemini',
            baseUrl: `${gemini.url}/v1beta`,
            keys,
            retries: { maxAttempts: 1 },
          },
        ],
        pricing: {
          'claude-model': { input: 1, output: 2, cachedInput: 0.5, cacheWrite: 1.25 },
          'gemini-model': { input: 1, output: 2, cachedInput: 0.5 },
        },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
    await gemini?.close();
  });

  /** A token of its own per case, held to a budget (so admission keeps an estimate). */
  async function budgeted(): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `translated-${++minted}`,
      budget: { usd: 100, period: 'day' },
    });
    expect(res.status).toBe(201);
    return res.json;
  }

  async function usageOf(tokenId: string): Promise<UsageRow | undefined> {
    const res = await adminCall(kw.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${tokenId}`);
    return res.json.rows[0];
  }

  const question = 'Tell me a story.';
  const bodies: Record<string, (model: string) => Record<string, unknown>> = {
    '/v1/chat/completions': (model) => ({
      model,
      max_tokens: MAX_TOKENS,
      stream: true,
      messages: [{ role: 'user', content: question }],
    }),
    '/v1/responses': (model) => ({
      model,
      max_output_tokens: MAX_TOKENS,
      stream: true,
      store: false,
      input: question,
    }),
    '/v1/messages': (model) => ({
      model,
      max_tokens: MAX_TOKENS,
      stream: true,
      messages: [{ role: 'user', content: question }],
    }),
  };

  // Anthropic: 100 input, 2,000 written to the cache and 5,000 read from it in message_start, then
  // the first text delta and a dropped connection. Gemini: its first chunk, then the drop. The
  // output each reported so far (1 token) was provisional: the reservation is charged for it.
  it.each([
    ['claude/claude-model', '/v1/chat/completions', { inputTokens: 7_100, cachedTokens: 5_000 }],
    ['claude/claude-model', '/v1/responses', { inputTokens: 7_100, cachedTokens: 5_000 }],
    ['gemini/gemini-model', '/v1/chat/completions', { inputTokens: 1_000, cachedTokens: 600 }],
    ['gemini/gemini-model', '/v1/responses', { inputTokens: 1_000, cachedTokens: 600 }],
    ['gemini/gemini-model', '/v1/messages', { inputTokens: 1_000, cachedTokens: 600 }],
  ] as const)(
    'charges %s cut after its start, through %s, the input the provider reported',
    async (model, path, input) => {
      const token = await budgeted();
      claude.script({
        blocks: [{ type: 'text', text: 'A fairly long answer, streamed in small pieces.' }],
        stop: 'end',
        usage: { input: 7_100, output: 250, cached: 5_000, cacheWrite: 2_000 },
        fault: { kind: 'cut', afterEvents: 4 },
      });
      gemini.cut = true;
      const res = await request(`${kw.dataUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(bodies[path]!(model)),
      });
      expect(res.statusCode).toBe(200);
      // The client sees the cut as its surface's error, never as a clean end.
      expect(await res.body.text()).toMatch(/error/);
      await expect
        .poll(() => usageOf(token.id), { timeout: 5000 })
        .toMatchObject({ requests: 1, ...input, outputTokens: MAX_TOKENS });
    },
  );

  it('charges a translated stream that failed before the client saw any of it once, not its start besides', async () => {
    // The Gemini surface writes nothing for message_start: the cut after it comes before the
    // client's stream began, and the attempt is charged as one that got no answer (its reservation).
    const token = await budgeted();
    claude.script({
      blocks: [{ type: 'text', text: 'Never seen.' }],
      stop: 'end',
      usage: { input: 7_100, output: 250, cached: 5_000, cacheWrite: 2_000 },
      fault: { kind: 'cut', afterEvents: 2 },
    });
    const res = await request(
      `${kw.dataUrl}/v1beta/models/claude/claude-model:streamGenerateContent?alt=sse`,
      {
        method: 'POST',
        headers: { 'x-goog-api-key': token.token, 'content-type': 'application/json' },
        body: JSON.stringify({
          contents: [{ role: 'user', parts: [{ text: question }] }],
          generationConfig: { maxOutputTokens: MAX_TOKENS },
        }),
      },
    );
    expect(res.statusCode).toBeGreaterThanOrEqual(500);
    await res.body.dump();
    await expect.poll(() => usageOf(token.id), { timeout: 5000 }).toMatchObject({ requests: 1 });
    const row = await usageOf(token.id);
    expect(row?.outputTokens).toBe(MAX_TOKENS);
    expect(row?.inputTokens).toBeLessThanOrEqual(7_100);
  });

  it('charges a translated stream that finished the usage of its end, not of its start', async () => {
    const token = await budgeted();
    gemini.cut = false;
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(bodies['/v1/chat/completions']!('gemini/gemini-model')),
    });
    expect(await res.body.text()).toContain('data: [DONE]');
    await expect
      .poll(() => usageOf(token.id), { timeout: 5000 })
      .toMatchObject({ requests: 1, inputTokens: 1_000, cachedTokens: 600, outputTokens: 250 });
  });

  it("gives LangChain's ChatAnthropic a Gemini stream's input tokens, and its output once", async () => {
    gemini.cut = false;
    const llm = new ChatAnthropic({
      model: 'gemini/gemini-model',
      apiKey: CLIENT_KEY,
      anthropicApiUrl: kw.dataUrl,
      maxTokens: MAX_TOKENS,
      maxRetries: 0,
    });
    let streamed: AIMessageChunk | undefined;
    for await (const chunk of await llm.stream('hi')) streamed = streamed ? streamed.concat(chunk) : chunk;
    const expected = {
      input_tokens: 1_000,
      output_tokens: 250,
      total_tokens: 1_250,
      input_token_details: { cache_read: 600, cache_creation: 0 },
    };
    expect(streamed?.content).toBe('Hello there');
    expect(streamed?.usage_metadata).toMatchObject(expected);
    // The same answer unstreamed counts the same.
    expect((await llm.invoke('hi')).usage_metadata).toMatchObject(expected);
  });
});
