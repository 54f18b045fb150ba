import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

const APP = 'https://app.example.test';

/**
 * Guessed login codes, session cookies and JWTs count against the address like guessed keys, and
 * are answered 429 past the limit; a real code from the same address is still accepted, so a
 * guesser behind a shared address cannot lock its neighbours out of logging in.
 */
describe('the failed-authentication guard on browser credentials', () => {
  let fake: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        server: { cors: { origins: [APP] } },
        rateLimits: { perIp: { failuresPerMinute: 3 } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: fake.baseUrl, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
    );
  });
  afterAll(async () => {
    await kw?.close();
    await fake?.close();
  });

  const post = async (path: string, body: unknown, cookie?: string) => {
    const res = await request(`${kw.dataUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: APP, ...(cookie && { cookie }) },
      body: JSON.stringify(body),
    });
    await res.body.dump();
    return res.statusCode;
  };

  it('answers guessed codes 429 past the limit, and still accepts a real code from that address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push(await post('/auth/session', { code: `guess-${i}-000000000000` }));
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    // A forged session cookie is a guess too.
    const chat = { model: 'fast', messages: [{ role: 'user', content: 'Hi' }] };
    expect(await post('/v1/chat/completions', chat, '__Host-keyward_session=forged.value')).toBe(429);

    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', {
      userId: 'u1',
      models: ['fast'],
    });
    expect(minted.status).toBe(201);
    expect(await post('/auth/session', { code: minted.json.code })).toBe(200);
  });
});
