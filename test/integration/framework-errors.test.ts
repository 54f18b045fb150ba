import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

/**
 * Paths Fastify refuses before any hook runs (a `%` without two hex digits, a path parameter past
 * its length limit) used to be answered in Fastify's own shape, naming its internal codes
 * (`FST_ERR_BAD_URL`): no SDK could parse it, and no request id came with it. They are answered in
 * the envelope of the surface the path belongs to, on both listeners.
 */
const ADMIN_KEY = 'kw-admin-key-framework-errors-0123';
const LONG = 'a'.repeat(5_000);

describe('paths the router cannot take', () => {
  let kw: TestGateway;

  beforeAll(async () => {
    kw = await startTestGateway(
      { auth: { apiKeys: { env: 'KEYWARD_API_KEY' } } },
      { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
  });

  const call = async (base: string, path: string, method: 'GET' | 'DELETE' | 'POST' = 'GET') => {
    const res = await request(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${CLIENT_KEY}`,
        'x-api-key': CLIENT_KEY,
        'x-goog-api-key': CLIENT_KEY,
      },
      ...(method === 'POST' && {
        body: '{}',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
      }),
    });
    const text = await res.body.text();
    return { status: res.statusCode, requestId: res.headers['x-request-id'], text, json: JSON.parse(text) };
  };

  it('answers a broken percent-encoding with 400 in the OpenAI, Anthropic and Gemini envelopes', async () => {
    const openai = await call(kw.dataUrl, '/v1/responses/%ff');
    expect(openai.status).toBe(400);
    expect(openai.json).toEqual({
      error: {
        message: expect.stringMatching(/every % in it must be followed by two hexadecimal digits/),
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_path',
      },
    });
    expect(openai.requestId).toMatch(/\S/);

    const conversation = await call(kw.dataUrl, '/v1/conversations/%zz/items', 'GET');
    expect(conversation).toMatchObject({ status: 400, json: { error: { code: 'invalid_path' } } });

    const anthropic = await call(kw.dataUrl, '/v1/messages/%ff', 'GET');
    expect(anthropic).toMatchObject({
      status: 400,
      json: { type: 'error', error: { type: 'invalid_request_error' } },
    });

    const gemini = await call(kw.dataUrl, '/v1beta/models/%ff', 'GET');
    expect(gemini).toMatchObject({ status: 400, json: { error: { code: 400, status: 'INVALID_ARGUMENT' } } });
  });

  it('answers a path parameter past its limit with 414, naming no internal code', async () => {
    for (const path of [`/v1/responses/${LONG}`, `/v1/conversations/${LONG}`]) {
      const answer = await call(kw.dataUrl, path);
      expect(answer, path).toMatchObject({ status: 414, json: { error: { code: 'path_too_long' } } });
    }
    const admin = await call(kw.adminUrl, `/admin/tokens/${LONG}`);
    expect(admin).toMatchObject({ status: 414, json: { error: { code: 'path_too_long' } } });
    const adminBad = await call(kw.adminUrl, '/admin/tokens/%ff');
    expect(adminBad).toMatchObject({ status: 400, json: { error: { code: 'invalid_path' } } });
    for (const answer of [admin, adminBad]) expect(answer.text).not.toMatch(/FST_|Bad Request/);
  });
});
