import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { logRecords, startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * A provider (or a proxy in front of it) that echoes the key it was sent into its error's `code`
 * and `param`. Neither the client's answer nor any log line may carry it: not a UUID-shaped key,
 * which holds no long run of letters and digits, and not a key made of words, which has the shape
 * of an error code and is caught only because the gateway knows it was this request's key.
 */
const UUID_OWN_KEY = '3f2a9c1e-5b7d-4e8f-a1b2-c3d4e5f6a7b8';
const WORDS_OWN_KEY = 'Canary-Passthrough-Key-Alpha-Bravo';
const WORDS_POOLED_KEY = 'Canary-Pooled-Key-Charlie-Delta';

/** The key itself, its base64, and its first and last eight characters. */
function forbiddenForms(secret: string): string[] {
  return [
    secret,
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
    secret.slice(0, 8),
    secret.slice(-8),
  ];
}

const echoing = (key: string) => ({
  status: 400,
  body: { error: { message: `Invalid key ${key}`, type: 'invalid_request_error', code: key, param: key } },
});

describe('a provider error echoing the request key in code and param', () => {
  let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
  let kw: TestGateway;

  beforeAll(async () => {
    const keys = [UUID_OWN_KEY, WORDS_OWN_KEY, WORDS_POOLED_KEY];
    fake = await startFakeOpenAI({ keys });
    for (const key of keys) fake.whenKey(key, echoing(key));
    const provider = (id: string, type: 'openai' | 'openai-compatible', keyBlock: unknown) => ({
      id,
      type,
      baseUrl: `${fake.url}/v1`,
      keys: keyBlock as { passthrough: true },
      retries: { maxAttempts: 1 },
    });
    kw = await startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        logging: { level: 'debug' },
        providers: [
          provider('pass', 'openai', { passthrough: true }),
          provider('compat', 'openai-compatible', { env: 'COMPAT_KEY' }),
        ],
        models: ['pass', 'compat'].map((id) => ({ name: id, provider: id, model: 'gpt-4o-mini' })),
      },
      { KEYWARD_API_KEY: CLIENT_KEY, COMPAT_KEY: WORDS_POOLED_KEY },
    );
  });
  afterAll(async () => {
    await kw.close();
    await fake.close();
  });

  async function chat(model: string, ownKey?: string) {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`,
        'content-type': 'application/json',
        ...(ownKey && { 'x-provider-api-key': ownKey }),
      },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      seen: `${JSON.stringify(res.headers)}\n${text}`,
      json: JSON.parse(text),
    };
  }

  for (const [model, key, own] of [
    ['pass', UUID_OWN_KEY, true],
    ['pass', WORDS_OWN_KEY, true],
    ['compat', WORDS_POOLED_KEY, false],
  ] as const) {
    it(`${model}: ${key} reaches neither the client nor the log`, async () => {
      const before = kw.logs.length;
      const answer = await chat(model, own ? key : undefined);
      expect(fake.requests.at(-1)?.headers.authorization).toBe(`Bearer ${key}`);
      expect(answer.status).toBe(400);
      expect(answer.json.error).toEqual({
        message: 'The provider rejected the request (HTTP 400)',
        type: 'invalid_request_error',
        code: 'provider_rejected_request',
        param: null,
      });
      const lines = kw.logs.slice(before);
      const requestLine = logRecords(lines).find((line) => line.route === '/v1/chat/completions');
      expect(requestLine?.errorCode).toBe('provider_rejected_request');
      const everything = `${answer.seen}\n${lines.join('')}`;
      for (const form of forbiddenForms(key)) {
        const at = everything.indexOf(form);
        expect(at, `found ${form}: ${everything.slice(Math.max(0, at - 200), at + 80)}`).toBe(-1);
      }
    });
  }
});
