import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const ALLOWED = 'https://app.example';

/**
 * A call with no credential from an allowed origin, its body plain text: what is wrong is the
 * missing credential, as for any client. It had been told that "requests authenticated by cookie"
 * must send JSON, though it carried no cookie.
 */
describe('a credential-less text/plain request from an allowed origin', () => {
  let kw: TestGateway;
  beforeAll(async () => {
    kw = await startTestGateway(
      { server: { cors: { origins: [ALLOWED] } }, auth: { apiKeys: { env: 'KEYWARD_API_KEY' } } },
      { KEYWARD_API_KEY: CLIENT_KEY },
    );
  });
  afterAll(async () => {
    await kw.close();
  });

  const post = async (headers: Record<string, string>) => {
    const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', ...headers },
      body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
    });
    const body = (await res.body.json()) as { error: { code: string; message: string } };
    return {
      status: res.statusCode,
      error: body.error,
      allowOrigin: res.headers['access-control-allow-origin'],
    };
  };

  it('is told its credential is missing, as a client with no Origin is', async () => {
    const fromPage = await post({ origin: ALLOWED });
    expect(fromPage.status).toBe(401);
    expect(fromPage.error.code).toBe('missing_credential');
    expect(fromPage.error.message).not.toMatch(/cookie/i);
    // The page can read the answer: the allowed origin is named back.
    expect(fromPage.allowOrigin).toBe(ALLOWED);
    expect(fromPage.error).toEqual((await post({})).error);
  });

  it('from an origin not allowed is still refused as one', async () => {
    const foreign = await post({ origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.error.code).toBe('origin_not_allowed');
  });
});
