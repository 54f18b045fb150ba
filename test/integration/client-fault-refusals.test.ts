import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORMATS, type FormatGateway, startFormatGateway } from '../support/format-gateway.js';
import { CLIENT_KEY } from '../support/setup.js';
import { GREETING } from '../support/weather-scripts.js';

/**
 * A request no provider could take (a malformed data URL, a block in the wrong role, a name that
 * declares nothing) is refused on a translated route as invalid input, `invalid_value`, in the
 * surface's own envelope: not `unsupported_for_provider`, which says another provider might.
 * Nothing is sent.
 */

let setup: FormatGateway;
beforeAll(async () => {
  setup = await startFormatGateway();
  for (const format of FORMATS) setup.fakes[format].script(GREETING);
});
afterAll(() => setup?.close());

const sent = () => FORMATS.reduce((n, format) => n + setup.fakes[format].requests.length, 0);

/** The error envelopes of the three surfaces, as far as these tests read them. */
interface Refused {
  type?: string;
  error: {
    type?: string;
    code?: string;
    param?: string;
    message?: string;
    status?: string;
    details?: unknown[];
  };
}

async function post(path: string, headers: Record<string, string>, body: unknown) {
  const before = sent();
  const res = await fetch(`${setup.kw.dataUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  expect(sent()).toBe(before);
  return { status: res.status, body: (await res.json()) as Refused };
}

const bearer = { authorization: `Bearer ${CLIENT_KEY}` };

describe('a request no provider could take, on a translated route', () => {
  it('is invalid_value on Chat Completions', async () => {
    const { status, body } = await post('/v1/chat/completions', bearer, {
      model: 'anthropic/m',
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://example.com/a.png' } }] },
      ],
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'invalid_value',
      param: 'messages[0].content[0].image_url.url',
    });
  });

  it.each([
    [{ type: 'input_file', filename: 'a.pdf' }, 'input[0].content[0]'],
    [{ type: 'input_image', image_url: 'ftp://example.com/a.png' }, 'input[0].content[0].image_url'],
    [{ type: 'output_text', text: 'hi', annotations: [] }, 'input[0].content[0]'],
  ])('is invalid_value on Responses: %j', async (part, param) => {
    const { status, body } = await post('/v1/responses', bearer, {
      model: 'anthropic/m',
      store: false,
      input: [{ role: 'user', content: [part] }],
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param });
  });

  // Anthropic's envelope has no code: the refusal still names the block, in front of its message.
  it('is invalid on Messages, the block named in the message', async () => {
    const { status, body } = await post(
      '/v1/messages',
      { 'x-api-key': CLIENT_KEY, 'anthropic-version': '2023-06-01' },
      {
        model: 'openai/m',
        max_tokens: 10,
        messages: [{ role: 'user', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] }],
      },
    );
    expect(status).toBe(400);
    expect(body).toEqual({
      type: 'error',
      error: {
        type: 'invalid_request_error',
        message: "messages.0.content.0: 'tool_use' blocks belong in assistant messages",
      },
    });
  });

  it.each([
    [
      {
        tools: [{ functionDeclarations: [{ name: 'weather' }] }],
        toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['time'] } },
      },
      'toolConfig.functionCallingConfig.allowedFunctionNames',
    ],
    [{ generationConfig: { responseSchema: { type: 'OBJECT' } } }, 'generationConfig.responseSchema'],
  ])('is invalid_value on Gemini: %j', async (extra, field) => {
    const { status, body } = await post(
      '/v1beta/models/anthropic/m:generateContent',
      { 'x-goog-api-key': CLIENT_KEY },
      { contents: [{ role: 'user', parts: [{ text: 'hi' }] }], ...extra },
    );
    expect(status).toBe(400);
    expect(body.error.status).toBe('INVALID_ARGUMENT');
    expect(body.error.details).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ reason: 'invalid_value' }),
        expect.objectContaining({ fieldViolations: [expect.objectContaining({ field })] }),
      ]),
    );
  });
});
