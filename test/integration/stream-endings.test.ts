import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Where a provider's stream ends. Its terminal event (`data: [DONE]`, `message_stop`, the
 * translated answer's finish) ends the client's stream at once: what the provider sends after it
 * (an error event, a dropped connection, a connection held open) is not the answer's, is not
 * shown, and does not turn the reported usage into a charge of the reservation. An
 * `openai-compatible` server that ends a finished answer without `data: [DONE]` has answered;
 * OpenAI itself must still send it.
 */

const ANSWER = 'A fairly long answer, streamed in small pieces.';
const SCRIPT: Script = {
  blocks: [{ type: 'text', text: ANSWER }],
  stop: 'end',
  usage: { input: 5_000, output: 250 },
};
const MAX_TOKENS = 300;
/** Far longer than a stream that ends at its terminal event takes here. */
const IDLE_MS = 5_000;

type Fault = Extract<Script['fault'], { kind: 'after_terminal' }>['then'];
const AFTER_TERMINAL: Fault[] = ['error_event', 'stall', 'cut'];

interface UsageRow {
  requests: number;
  inputTokens: number;
  outputTokens: number;
}

describe('stream endings', () => {
  let openai: FakeProvider;
  let claude: FakeProvider;
  let compat: FakeProvider;
  let kw: TestGateway;
  let minted = 0;

  beforeAll(async () => {
    openai = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    compat = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    const common = {
      keys: { env: 'PROVIDER_KEY' },
      retries: { maxAttempts: 1 },
      timeouts: { idleMs: IDLE_MS },
    };
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          { id: 'openai', type: 'openai', baseUrl: openai.baseUrl, ...common },
          { id: 'claude', type: 'anthropic', baseUrl: claude.baseUrl, ...common },
          { id: 'compat', type: 'openai-compatible', baseUrl: compat.baseUrl, ...common },
        ],
        pricing: { 'model-x': { input: 1, output: 2 } },
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await Promise.all([openai?.close(), claude?.close(), compat?.close()]);
  });

  /** A token of its own per case, held to a budget, so its usage row is the case's alone. */
  async function budgeted(): Promise<{ id: string; token: string }> {
    const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: `ending-${++minted}`,
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

  const openAIClient = (token = CLIENT_KEY) =>
    new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: token, maxRetries: 0 });
  const anthropicClient = () => new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });

  /** Streams through the OpenAI SDK; the text it assembled and how long the stream took. */
  async function openAIStream(model: string, token?: string): Promise<{ text: string; ms: number }> {
    const started = Date.now();
    const stream = await openAIClient(token).chat.completions.create({
      model,
      max_tokens: MAX_TOKENS,
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'Tell me a story.' }],
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    return { text, ms: Date.now() - started };
  }

  /** The raw stream the gateway sends an OpenAI-surface client. */
  async function rawStream(model: string): Promise<string> {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model,
        stream: true,
        messages: [{ role: 'user', content: 'Tell me a story.' }],
      }),
    });
    expect(res.statusCode).toBe(200);
    return res.body.text();
  }

  describe('after the terminal event', () => {
    it.each(AFTER_TERMINAL)(
      'a relayed OpenAI stream ends at [DONE], charged its reported usage (then: %s)',
      async (then) => {
        const token = await budgeted();
        openai.script({ ...SCRIPT, fault: { kind: 'after_terminal', then } });
        const { text, ms } = await openAIStream('openai/model-x', token.token);
        expect(text).toBe(ANSWER);
        expect(ms).toBeLessThan(IDLE_MS / 2);
        await expect
          .poll(() => usageOf(token.id), { timeout: 5000 })
          .toEqual(expect.objectContaining({ requests: 1, inputTokens: 5_000, outputTokens: 250 }));
      },
    );

    it.each(AFTER_TERMINAL)(
      'what follows [DONE] never reaches the client: the stream ends with it (then: %s)',
      async (then) => {
        openai.script({ ...SCRIPT, fault: { kind: 'after_terminal', then } });
        const text = await rawStream('openai/model-x');
        expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
        expect(text).not.toContain('"error"');
      },
    );

    it.each(AFTER_TERMINAL)(
      'a translated stream ends at the answer’s finish, charged its reported usage (then: %s)',
      async (then) => {
        const token = await budgeted();
        claude.script({ ...SCRIPT, fault: { kind: 'after_terminal', then } });
        const { text, ms } = await openAIStream('claude/model-x', token.token);
        expect(text).toBe(ANSWER);
        expect(ms).toBeLessThan(IDLE_MS / 2);
        await expect
          .poll(() => usageOf(token.id), { timeout: 5000 })
          .toEqual(expect.objectContaining({ requests: 1, inputTokens: 5_000, outputTokens: 250 }));
      },
    );

    it.each(AFTER_TERMINAL)('a relayed Anthropic stream ends at message_stop (then: %s)', async (then) => {
      claude.script({ ...SCRIPT, fault: { kind: 'after_terminal', then } });
      const started = Date.now();
      const message = await anthropicClient()
        .messages.stream({
          model: 'claude/model-x',
          max_tokens: MAX_TOKENS,
          messages: [{ role: 'user', content: 'Tell me a story.' }],
        })
        .finalMessage();
      expect(message.content).toEqual([expect.objectContaining({ type: 'text', text: ANSWER })]);
      expect(message.usage.output_tokens).toBe(250);
      expect(Date.now() - started).toBeLessThan(IDLE_MS / 2);
    });

    it('counts no stream error for what came after the end', async () => {
      const metrics = await kw.gateway.metrics.render();
      expect(metrics).not.toMatch(/keyward_stream_errors_total\{provider="(openai|claude)"/);
    });
  });

  describe('an OpenAI-compatible server that leaves out data: [DONE]', () => {
    it('has answered once a choice finished: the client gets the [DONE] the server left out', async () => {
      compat.script({ ...SCRIPT, fault: { kind: 'no_terminal' } });
      const { text } = await openAIStream('compat/model-x');
      expect(text).toBe(ANSWER);
      compat.script({ ...SCRIPT, fault: { kind: 'no_terminal' } });
      const raw = await rawStream('compat/model-x');
      expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
      expect(raw).not.toContain('"error"');
    });

    it('has answered through translation too', async () => {
      compat.script({ ...SCRIPT, fault: { kind: 'no_terminal' } });
      const message = await anthropicClient()
        .messages.stream({
          model: 'compat/model-x',
          max_tokens: MAX_TOKENS,
          messages: [{ role: 'user', content: 'Tell me a story.' }],
        })
        .finalMessage();
      expect(message.content).toEqual([expect.objectContaining({ type: 'text', text: ANSWER })]);
      expect(message.stop_reason).toBe('end_turn');
    });

    it('is not finished when it stopped before a choice finished, nor when OpenAI itself leaves out [DONE]', async () => {
      compat.script({ ...SCRIPT, fault: { kind: 'cut', afterEvents: 3 } });
      await expect(openAIStream('compat/model-x')).rejects.toThrow(OpenAI.APIError);
      openai.script({ ...SCRIPT, fault: { kind: 'no_terminal' } });
      await expect(openAIStream('openai/model-x')).rejects.toThrow(/ended before it finished/);
    });

    it('is charged the usage it reported beside its finish', async () => {
      // llama.cpp's shape: the usage rides on the finishing chunk, and no [DONE] follows.
      const fake = await startFakeOpenAI();
      const gateway = await startTestGateway(
        {
          auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
          providers: [{ id: 'llama', type: 'openai-compatible', baseUrl: `${fake.url}/v1` }],
          pricing: { 'local-model': { input: 1, output: 2 } },
        },
        { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
      );
      try {
        const chunk = (choice: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
          `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'local-model', choices: [{ index: 0, ...choice }], ...extra })}\n\n`;
        const body =
          chunk({ delta: { role: 'assistant', content: 'Complete answer.' }, finish_reason: null }) +
          chunk(
            { delta: {}, finish_reason: 'stop' },
            { usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } },
          );
        const minted = await adminCall(gateway.adminUrl, 'POST', '/admin/tokens', {
          name: 'llama',
          budget: { usd: 100, period: 'day' },
        });
        for (const path of ['/v1/chat/completions', '/v1/messages']) {
          fake.script({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
          const res = await request(`${gateway.dataUrl}${path}`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${minted.json.token}`,
              'content-type': 'application/json',
              'anthropic-version': '2023-06-01',
            },
            body: JSON.stringify({
              model: 'llama/local-model',
              max_tokens: MAX_TOKENS,
              stream: true,
              messages: [{ role: 'user', content: 'Hi' }],
            }),
          });
          const text = await res.body.text();
          expect(text, path).not.toContain('error');
        }
        await expect
          .poll(
            async () =>
              (await adminCall(gateway.adminUrl, 'GET', `/admin/usage?by=token&tokenId=${minted.json.id}`))
                .json.rows[0],
            { timeout: 5000 },
          )
          .toEqual(expect.objectContaining({ requests: 2, inputTokens: 14, outputTokens: 6 }));
      } finally {
        await gateway.close();
        await fake.close();
      }
    });
  });
});
