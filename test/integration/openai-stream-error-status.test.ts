import OpenAI, { APIError } from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mapStreamFailure } from '../../src/forward/upstream-errors.js';
import { StreamFailure } from '../../src/providers/index.js';
import { openAIErrorBody } from '../../src/surfaces/openai/envelope.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * An OpenAI-format provider's error event, in a stream passed through to an OpenAI-surface client
 * (same format, no translation), keeps the status it names: before any output the client gets
 * that status, as if the request had failed; after it, the client's error event keeps the class
 * a translated stream's would. The provider's words never reach the client, and the event does
 * not cool the key.
 */

/** More than one read of the provider's answer: the client has its first events before the error. */
const LONG_TEXT = 'x'.repeat(150_000);
const PROVIDER_WORDS = ['Provider returned error', 'DeepInfra', 'sk-or-INTERNAL', 'Our servers'];

type ErrorObject = Record<string, unknown>;

/** OpenRouter's in-stream error: the status in `code`, the failing provider in its words and metadata. */
const routerError = (code: number | string): ErrorObject => ({
  code,
  message: 'Provider returned error',
  metadata: { raw: 'key sk-or-INTERNAL is rate limited', provider_name: 'DeepInfra' },
});

/** OpenAI's own: the class named by words (its error codes guide). */
const OPENAI_OVERLOADED: ErrorObject = {
  message: 'Our servers are currently overloaded. Please try again later.',
  type: 'service_unavailable_error',
  param: null,
  code: 'server_is_overloaded',
};
const OPENAI_RATE_LIMITED: ErrorObject = {
  message: 'Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM).',
  type: 'tokens',
  param: null,
  code: 'rate_limit_exceeded',
};
const OPENAI_QUOTA: ErrorObject = {
  message: 'You exceeded your current quota, please check your plan and billing details.',
  type: 'insufficient_quota',
  param: null,
  code: 'insufficient_quota',
};

const errorEvent = (error: ErrorObject) => `data: ${JSON.stringify({ error })}\n\n`;
const chunk = (delta: Record<string, unknown>) =>
  `data: ${JSON.stringify({ id: 'gen-1', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta }] })}\n\n`;

const stream = (body: string) => ({ status: 200, headers: { 'content-type': 'text/event-stream' }, body });
/** OpenRouter's keep-alive comments, then the error: nothing for the client yet. */
const failingAtOnce = (error: ErrorObject) => stream(`: OPENROUTER PROCESSING\n\n${errorEvent(error)}`);
/** 150 kB of text, then the error. */
const failingAfterText = (error: ErrorObject) =>
  stream(chunk({ role: 'assistant', content: '' }) + chunk({ content: LONG_TEXT }) + errorEvent(error));

/** What a translated stream's client is told of a provider error event naming `status`. */
const translatedEvent = (status: number) =>
  openAIErrorBody(mapStreamFailure(new StreamFailure('provider_error', 'failed', status))).error;

describe('an error event in an OpenAI-format stream passed through to an OpenAI client', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
    const provider = (id: string, type: 'openai' | 'openai-compatible') => ({
      id,
      type,
      baseUrl: `${fake.url}/v1`,
      keys: { env: 'PROVIDER_KEY' },
      retries: { maxAttempts: 1 },
    });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [provider('router', 'openai-compatible'), provider('oai', 'openai')],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
    );
    client = new OpenAI({ baseURL: `${kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });
  afterEach(() => fake.reset());

  /** Streams through the OpenAI SDK: the text it had and the error it raised. */
  async function streamError(model: string): Promise<{ text: string; error: APIError }> {
    let text = '';
    try {
      const answer = await client.chat.completions.create({
        model,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      });
      for await (const piece of answer) text += piece.choices[0]?.delta.content ?? '';
    } catch (error) {
      expect(error).toBeInstanceOf(APIError);
      return { text, error: error as APIError };
    }
    throw new Error('expected the stream to fail');
  }

  const expectNoProviderWords = (error: APIError) => {
    for (const word of PROVIDER_WORDS) expect(JSON.stringify(error)).not.toContain(word);
    for (const word of PROVIDER_WORDS) expect(error.message).not.toContain(word);
  };

  describe('before any output', () => {
    it.each([
      ['router/m', routerError(429), 429, 'provider_rate_limited', OpenAI.RateLimitError],
      ['router/m', routerError('503'), 503, 'provider_overloaded', OpenAI.InternalServerError],
      ['router/m', routerError(502), 502, 'provider_error', OpenAI.InternalServerError],
      ['oai/gpt-4o', OPENAI_RATE_LIMITED, 429, 'provider_rate_limited', OpenAI.RateLimitError],
      ['oai/gpt-4o', OPENAI_OVERLOADED, 503, 'provider_overloaded', OpenAI.InternalServerError],
      ['oai/gpt-4o', OPENAI_QUOTA, 502, 'provider_error', OpenAI.InternalServerError],
    ])('from %s (%j) is answered %i %s', async (model, error, status, code, kind) => {
      fake.script(failingAtOnce(error));
      const { text, error: raised } = await streamError(model);
      expect(text).toBe('');
      expect(raised).toBeInstanceOf(kind);
      expect(raised.status).toBe(status);
      expect(raised.code).toBe(code);
      expectNoProviderWords(raised);
    });

    it('does not cool the key: the next request with it is served', async () => {
      fake.script(failingAtOnce(routerError(429)));
      const { error } = await streamError('router/m');
      expect(error.status).toBe(429);
      // A cooled key would be answered 429 provider_keys_cooling without reaching the provider.
      const answer = await client.chat.completions.create({
        model: 'router/m',
        messages: [{ role: 'user', content: 'hi' }],
      });
      expect(answer.choices[0]?.message.content).toBeTruthy();
      expect(fake.requests).toHaveLength(2);
    });
  });

  describe('after output', () => {
    it.each([
      ['router/m', routerError(429), 'rate_limit_error', 'provider_rate_limited'],
      ['router/m', routerError(529), 'service_unavailable', 'provider_overloaded'],
      ['router/m', routerError(502), 'upstream_error', 'provider_error'],
      ['oai/gpt-4o', OPENAI_OVERLOADED, 'service_unavailable', 'provider_overloaded'],
      ['oai/gpt-4o', OPENAI_RATE_LIMITED, 'rate_limit_error', 'provider_rate_limited'],
    ])('from %s (%j) ends the stream as %s %s', async (model, error, type, code) => {
      fake.script(failingAfterText(error));
      const { text, error: raised } = await streamError(model);
      expect(text).toHaveLength(LONG_TEXT.length);
      expect(raised.error).toEqual({
        message: 'The provider reported an error mid-stream',
        type,
        code,
        param: null,
      });
      expectNoProviderWords(raised);
    });

    // The relay words each class as a translated stream does, without importing its mapping
    // (surfaces sit below forward/): every status with a class of its own, held to that mapping.
    it.each([400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504, 529])(
      'naming %i is told as a translated stream tells it',
      async (status) => {
        fake.script(failingAfterText(routerError(status)));
        const { text, error } = await streamError('router/m');
        expect(text).toHaveLength(LONG_TEXT.length);
        expect(error.error).toEqual(translatedEvent(status));
      },
    );
  });
});
