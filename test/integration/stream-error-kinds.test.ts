import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * A provider's error event, in a stream the gateway translates for a client of another format,
 * keeps its class: an overload or a rate limit is one to the client's SDK too (which retries by
 * it), in the client's own format and the gateway's words. The provider's words never reach it.
 */

/** More than one read of the provider's answer: the client has its first events before the error. */
const LONG_TEXT = 'x'.repeat(150_000);
const PROVIDER_WORDS = ['Provider returned error', 'DeepInfra', 'sk-or-INTERNAL', 'Overloaded'];

/** An Anthropic stream that fails with the error type of `status` after 150 kB of text. */
const anthropicFailingAfterText = (status: number): Script => ({
  blocks: [{ type: 'text', text: LONG_TEXT }],
  chunkSize: LONG_TEXT.length,
  stop: 'end',
  usage: { input: 8, output: 5 },
  fault: { kind: 'error_event', afterEvents: 4, status },
});

/** OpenRouter's in-stream error: the status in `code`, the failing provider in its words and metadata. */
const routerErrorEvent = (code: number) =>
  `data: ${JSON.stringify({
    error: {
      code,
      message: 'Provider returned error',
      metadata: { raw: 'key sk-or-INTERNAL is rate limited', provider_name: 'DeepInfra' },
    },
  })}\n\n`;

/** An OpenAI-format stream that opens, sends 150 kB of text, then OpenRouter's error naming `code`. */
function routerFailingAfterText(code: number) {
  const chunk = (delta: Record<string, unknown>) =>
    `data: ${JSON.stringify({ id: 'gen-1', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta }] })}\n\n`;
  return {
    status: 200,
    headers: { 'content-type': 'text/event-stream' },
    body: chunk({ role: 'assistant', content: '' }) + chunk({ content: LONG_TEXT }) + routerErrorEvent(code),
  };
}

describe('a provider error event in a translated stream', () => {
  let claude: FakeProvider;
  let router: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;
  let openai: OpenAI;
  let anthropic: Anthropic;

  beforeAll(async () => {
    claude = await startFakeProvider('anthropic', { keys: [PROVIDER_KEY] });
    router = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'claude',
            type: 'anthropic',
            baseUrl: claude.baseUrl,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
          {
            id: 'router',
            type: 'openai-compatible',
            baseUrl: `${router.url}/v1`,
            keys: { env: 'PROVIDER_KEY' },
            retries: { maxAttempts: 1 },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    openai = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: kw.dataUrl, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await claude?.close();
    await router?.close();
  });
  afterEach(() => router.reset());

  /** Streams from an Anthropic provider through the OpenAI SDK: the text it had and the error it raised. */
  async function openAIStreamError(): Promise<{ text: string; error: APIError }> {
    let text = '';
    try {
      const stream = await openai.chat.completions.create({
        model: 'claude/claude-sonnet-4-5',
        max_tokens: 100,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      });
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    } catch (error) {
      expect(error).toBeInstanceOf(APIError);
      return { text, error: error as APIError };
    }
    throw new Error('expected the stream to fail');
  }

  /** Streams from an OpenAI-format provider through the Anthropic SDK. */
  async function anthropicStreamError(): Promise<{ text: string; error: unknown }> {
    let text = '';
    const stream = anthropic.messages.stream({
      model: 'router/m',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    stream.on('text', (delta) => {
      text += delta;
    });
    const error = await stream.finalMessage().then(
      () => {
        throw new Error('expected the stream to fail');
      },
      (thrown: unknown) => thrown,
    );
    return { text, error };
  }

  it.each([
    [529, 'service_unavailable', 'provider_overloaded'],
    [429, 'rate_limit_error', 'provider_rate_limited'],
    [401, 'upstream_error', 'provider_auth_failed'],
  ])('from Anthropic (HTTP %i) reaches an OpenAI client as %s', async (status, type, code) => {
    claude.script(anthropicFailingAfterText(status));
    const { text, error } = await openAIStreamError();
    expect(text).toHaveLength(LONG_TEXT.length);
    expect(error.error).toMatchObject({ type, code });
    for (const word of PROVIDER_WORDS) expect(JSON.stringify(error.error)).not.toContain(word);
  });

  it.each([
    [429, 'rate_limit_error'],
    [503, 'overloaded_error'],
    [502, 'api_error'],
  ])('from an OpenAI-format provider (code %i) reaches an Anthropic client as %s', async (code, type) => {
    router.script(routerFailingAfterText(code));
    const { text, error } = await anthropicStreamError();
    expect(text).toHaveLength(LONG_TEXT.length);
    // An error event raises the SDK's APIError, without a status: its type is what it retries by.
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
      type: 'error',
      error: { type },
    });
    for (const word of PROVIDER_WORDS) expect(JSON.stringify(error)).not.toContain(word);
  });

  it('before any output is the status it names, as an HTTP error would be', async () => {
    router.script({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: `: OPENROUTER PROCESSING\n\n${routerErrorEvent(429)}`,
    });
    const { text, error } = await anthropicStreamError();
    expect(text).toBe('');
    expect(error).toBeInstanceOf(Anthropic.RateLimitError);
    for (const word of PROVIDER_WORDS) expect(JSON.stringify(error)).not.toContain(word);
  });
});
