import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashClientKey } from '../../src/auth/key-digest.js';
import { ConfigError } from '../../src/config/errors.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY, type Stack, startStack } from '../support/setup.js';

async function call(base: string, path: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await request(`${base}${path}`, { method, headers });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: text ? JSON.parse(text) : undefined };
}

describe('client authentication', () => {
  let stack: Stack;
  const HASHED_KEY = 'kw-hashed-client-key-1a2b3c4d5e6f';
  beforeAll(async () => {
    stack = await startStack({
      config: { auth: { apiKeys: { env: 'KEYWARD_API_KEY', hashes: [hashClientKey(HASHED_KEY)] } } },
    });
  });
  afterAll(() => stack.close());

  it.each([
    ['authorization', `Bearer ${CLIENT_KEY}`],
    ['authorization', `bearer ${CLIENT_KEY}`],
    ['x-api-key', CLIENT_KEY],
    ['x-goog-api-key', CLIENT_KEY],
    ['authorization', `Bearer ${HASHED_KEY}`],
  ])('accepts %s', async (header, value) => {
    expect((await call(stack.kw.dataUrl, '/v1/models', { [header]: value })).status).toBe(200);
  });

  it('refuses a missing, wrong or malformed credential with 401, naming no key', async () => {
    const missing = await call(stack.kw.dataUrl, '/v1/models');
    expect(missing.status).toBe(401);
    expect(missing.json.error).toMatchObject({ type: 'authentication_error', code: 'missing_credential' });

    const wrong = await call(stack.kw.dataUrl, '/v1/models', { authorization: `Bearer ${CLIENT_KEY}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('invalid_credential');
    expect(wrong.text).not.toContain(CLIENT_KEY);

    const basic = await call(stack.kw.dataUrl, '/v1/models', { authorization: 'Basic Zm9vOmJhcg==' });
    expect(basic.status).toBe(401);
    expect(basic.json.error.message).toContain('Bearer');
  });

  it('refuses two different credentials with 400 and accepts the same one twice', async () => {
    const two = await call(stack.kw.dataUrl, '/v1/models', {
      authorization: `Bearer ${CLIENT_KEY}`,
      'x-api-key': HASHED_KEY,
    });
    expect(two.status).toBe(400);
    expect(two.json.error.code).toBe('conflicting_credentials');
    const same = await call(stack.kw.dataUrl, '/v1/models', {
      authorization: `Bearer ${CLIENT_KEY}`,
      'x-api-key': CLIENT_KEY,
    });
    expect(same.status).toBe(200);
  });

  it.each(['authorization', 'x-api-key', 'x-goog-api-key'])(
    'reads every %s header sent, not the first or their values joined',
    async (name) => {
      const value = (key: string) => (name === 'authorization' ? `Bearer ${key}` : key);
      const send = async (...keys: string[]) => {
        const res = await request(`${stack.kw.dataUrl}/v1/models`, {
          headers: keys.flatMap((key) => [name, value(key)]),
        });
        return { status: res.statusCode, json: (await res.body.json()) as { error?: { message: string } } };
      };
      // Node keeps only the first Authorization and joins the others: a proxy in front that reads
      // the last one (or another one) would judge a different credential than the gateway.
      const two = await send(CLIENT_KEY, HASHED_KEY);
      expect(two.status).toBe(400);
      // In the envelope of the client's surface (Gemini's for x-goog-api-key), so by its words.
      expect(two.json.error?.message).toContain('two different credentials');
      expect((await send(HASHED_KEY, CLIENT_KEY)).status).toBe(400);
      expect((await send(CLIENT_KEY, CLIENT_KEY)).status).toBe(200);
    },
  );

  it.each(['key', 'api_key', 'API_KEY', 'access_token', 'token'])(
    'refuses a credential in the query string (%s)',
    async (name) => {
      const res = await call(stack.kw.dataUrl, `/v1/models?${name}=${CLIENT_KEY}`, {
        authorization: `Bearer ${CLIENT_KEY}`,
      });
      expect(res.status).toBe(400);
      expect(res.json.error.code).toBe('credential_in_query');
      expect(res.text).not.toContain(CLIENT_KEY);
    },
  );

  it('names the header a Gemini client sends when its key comes in the query, under /v1 as /v1beta', async () => {
    for (const path of ['/v1beta/models/m:generateContent', '/v1/models/m:generateContent']) {
      const res = await call(stack.kw.dataUrl, `${path}?key=${CLIENT_KEY}`, {}, 'POST');
      expect(res.status, path).toBe(400);
      expect(res.text, path).toContain('x-goog-api-key');
    }
    const openai = await call(stack.kw.dataUrl, `/v1/models?key=${CLIENT_KEY}`);
    expect(openai.text).toContain('Authorization');
  });

  it('serves /health and /ready without a credential, and nothing else', async () => {
    expect((await call(stack.kw.dataUrl, '/health')).json).toEqual({ status: 'ok' });
    expect((await call(stack.kw.dataUrl, '/ready')).json).toEqual({ status: 'ready' });
    expect((await call(stack.kw.dataUrl, '/v1/chat/completions', {}, 'POST')).status).toBe(401);
  });
});

describe('closed by default', () => {
  let kw: TestGateway;
  beforeAll(async () => {
    kw = await startTestGateway({ auth: { apiKeys: { env: 'KEYWARD_API_KEY' } } }, {});
  });
  afterAll(() => kw.close());

  it('answers 401 to everything when no client credential is configured, and warns at start', async () => {
    for (const value of ['', 'anything', CLIENT_KEY]) {
      const headers: Record<string, string> = value ? { authorization: `Bearer ${value}` } : {};
      expect((await call(kw.dataUrl, '/v1/models', headers)).status).toBe(401);
    }
    expect((await call(kw.dataUrl, '/health')).status).toBe(200);
    const warning = kw.logs
      .map((l) => JSON.parse(l))
      .find((r) => r.level === 'warn' && /no client credential/.test(r.msg));
    expect(warning).toBeDefined();
  });

  it('refuses client keys too short to be secret', async () => {
    await expect(
      startTestGateway({ auth: { apiKeys: { env: 'K' } } }, { K: 'short-key-123' }),
    ).rejects.toBeInstanceOf(ConfigError);
  });
});
