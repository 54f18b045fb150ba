import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Script } from '../support/fake-providers/script.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, PROVIDER_KEY } from '../support/setup.js';

/**
 * Gemini's `safetySettings` on the Gemini surface: a Gemini provider gets them as sent, streamed
 * or not. Another provider has no filter to set: a setting that blocks nothing is dropped, one
 * that asks for blocking (BLOCK_LOW_AND_ABOVE, …) is refused naming it. All were dropped, so a
 * request asking for stricter blocking was answered unfiltered.
 */

const turn: Script = {
  blocks: [{ type: 'text', text: 'Done.' }],
  stop: 'end',
  usage: { input: 5, output: 2 },
};
const contents = [{ role: 'user', parts: [{ text: 'Tell me a story.' }] }];
const STRICT = [
  { category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' },
  { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', threshold: 'BLOCK_LOW_AND_ABOVE' },
];

let gemini: FakeProvider;
const others = {} as Record<'openai' | 'anthropic' | 'ollama', FakeProvider>;
let kw: TestGateway;

beforeAll(async () => {
  gemini = await startFakeProvider('gemini', { keys: [PROVIDER_KEY] });
  for (const format of ['openai', 'anthropic', 'ollama'] as const)
    others[format] = await startFakeProvider(format, format === 'ollama' ? {} : { keys: [PROVIDER_KEY] });
  const keys = { env: 'PROVIDER_KEY' };
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        { id: 'gemini', type: 'gemini', baseUrl: gemini.baseUrl, keys, retries: { maxAttempts: 1 } },
        { id: 'openai', type: 'openai', baseUrl: others.openai.baseUrl, keys, retries: { maxAttempts: 1 } },
        {
          id: 'anthropic',
          type: 'anthropic',
          baseUrl: others.anthropic.baseUrl,
          keys,
          retries: { maxAttempts: 1 },
        },
        { id: 'ollama', type: 'ollama', baseUrl: others.ollama.baseUrl, retries: { maxAttempts: 1 } },
      ],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, PROVIDER_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await gemini?.close();
  await Promise.all(Object.values(others).map((fake) => fake.close()));
});

async function post(path: string, body: unknown) {
  const res = await request(`${kw.dataUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': CLIENT_KEY },
    body: JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text };
}

describe('safetySettings on the Gemini surface', () => {
  it('reach a Gemini provider as sent, streamed or not', async () => {
    for (const method of ['generateContent', 'streamGenerateContent?alt=sse']) {
      gemini.script(turn);
      const res = await post(`/v1beta/models/gemini/gemini-2.5-flash:${method}`, {
        contents,
        safetySettings: STRICT,
      });
      expect(res.status, res.text).toBe(200);
      expect(JSON.parse(gemini.requests.at(-1)?.raw ?? '{}').safetySettings).toEqual(STRICT);
    }
  });

  for (const format of ['openai', 'anthropic', 'ollama'] as const) {
    it(`that block are refused for ${format}, naming the threshold; those that block nothing are dropped`, async () => {
      const before = others[format].requests.length;
      for (const method of ['generateContent', 'streamGenerateContent?alt=sse']) {
        const res = await post(`/v1beta/models/${format}/some-model:${method}`, {
          contents,
          safety_settings: STRICT,
        });
        expect(res.status, res.text).toBe(400);
        const { error } = JSON.parse(res.text);
        expect(error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
        expect(error.message).toContain('BLOCK_LOW_AND_ABOVE');
        expect(error.details).toContainEqual(
          expect.objectContaining({
            fieldViolations: [expect.objectContaining({ field: 'safetySettings[1].threshold' })],
          }),
        );
      }
      expect(others[format].requests.length).toBe(before);

      others[format].script(turn);
      const relaxed = await post(`/v1beta/models/${format}/some-model:generateContent`, {
        contents,
        safetySettings: [
          { category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' },
          { category: 'HARM_CATEGORY_HATE_SPEECH', threshold: 'OFF' },
          { category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', threshold: 'HARM_BLOCK_THRESHOLD_UNSPECIFIED' },
        ],
      });
      expect(relaxed.status, relaxed.text).toBe(200);
      expect(others[format].requests.at(-1)?.raw).not.toContain('HARM_CATEGORY');
    });
  }

  it('change no token count: a count of the request about to be sent is answered, whatever they ask', async () => {
    for (const target of ['anthropic/claude-x', 'openai/gpt-x']) {
      const res = await post(`/v1beta/models/${target}:countTokens`, {
        generateContentRequest: { contents, safetySettings: STRICT },
      });
      expect(res.status, res.text).toBe(200);
      expect(JSON.parse(res.text).totalTokens).toBeGreaterThan(0);
    }
  });
});
