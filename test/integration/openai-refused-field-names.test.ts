import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A setting a provider of another format refuses is named as the client's body holds it: the
 * output limit is `max_completion_tokens` or `max_tokens` on Chat Completions, whichever the client
 * sent, and `max_output_tokens` on the Responses API. The codecs name canonical fields, which were
 * passed on as they were: a client that sent `max_completion_tokens` was told `max_tokens`.
 */

const MODEL = 'anthropic/claude-sonnet-4-5';

let setup: FormatGateway;
let openai: OpenAI;

beforeAll(async () => {
  setup = await startFormatGateway();
  openai = new OpenAI({ baseURL: `${setup.kw.dataUrl}/v1`, apiKey: CLIENT_KEY, maxRetries: 0 });
});
afterAll(() => setup?.close());

/** The param of the OpenAI SDK's error for a refused request; fails when it was answered. */
async function refusedParam(promise: Promise<unknown>): Promise<unknown> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  expect(error).toMatchObject({ code: 'unsupported_for_provider' });
  return (error as InstanceType<typeof OpenAI.APIError>).param;
}

describe('an output limit too small for Anthropic thinking', () => {
  it('is named as the Chat Completions client sent it', async () => {
    const ask = (limit: { max_completion_tokens?: number; max_tokens?: number }) =>
      refusedParam(
        openai.chat.completions.create({
          model: MODEL,
          messages: [{ role: 'user', content: 'hi' }],
          reasoning_effort: 'low',
          ...limit,
        }),
      );
    expect(await ask({ max_completion_tokens: 800 })).toBe('max_completion_tokens');
    expect(await ask({ max_tokens: 800 })).toBe('max_tokens');
    // Both sent: the newer one is the limit, as OpenAI reads them.
    expect(await ask({ max_completion_tokens: 800, max_tokens: 5000 })).toBe('max_completion_tokens');
  });

  it('is max_output_tokens for a Responses client', async () => {
    expect(
      await refusedParam(
        openai.responses.create({
          model: MODEL,
          input: 'hi',
          store: false,
          reasoning: { effort: 'low' },
          max_output_tokens: 800,
        }),
      ),
    ).toBe('max_output_tokens');
  });
});

describe('a forced call of a legacy functions client, which Anthropic refuses while the model thinks', () => {
  it('is named function_call, the field the client sent', async () => {
    const param = await refusedParam(
      openai.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        reasoning_effort: 'low',
        functions: [{ name: 'lookup', parameters: { type: 'object', properties: {} } }],
        function_call: { name: 'lookup' },
      }),
    );
    expect(param).toBe('function_call');
  });
});
