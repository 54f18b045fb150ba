import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-revoke-user-codes-provider-key-0123456789';
const APP = 'https://app.example.test';

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let kw: TestGateway;

beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      server: { cors: { origins: [APP] } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

async function code(userId: string, credential = ADMIN_KEY): Promise<string> {
  const minted = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', { userId }, credential);
  expect(minted.status).toBe(201);
  return minted.json.code;
}

async function signIn(loginCode: string): Promise<number> {
  const res = await request(`${kw.dataUrl}/auth/session`, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/json' },
    body: JSON.stringify({ code: loginCode }),
  });
  await res.body.dump();
  return res.statusCode;
}

describe("DELETE /admin/sessions?user=U and U's login codes", () => {
  it('refuses a login code handed out before the revocation, however it was minted, and no other user is touched', async () => {
    const token = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'app back end',
      scopes: ['sessions', 'chat', 'models:read'],
    });
    expect(token.status).toBe(201);
    const byAdmin = await code('eve');
    const byToken = await code('eve', token.json.token);
    const someoneElse = await code('eve2');

    const revoked = await adminCall(kw.adminUrl, 'DELETE', '/admin/sessions?user=eve');
    expect(revoked.json).toEqual({ revoked: 0, sessions: [] });

    expect(await signIn(byAdmin)).toBe(401);
    expect(await signIn(byToken)).toBe(401);
    expect((await adminCall(kw.adminUrl, 'GET', '/admin/sessions?user=eve')).json.sessions).toEqual([]);
    expect(await signIn(someoneElse)).toBe(200);
    // The user is not barred: a code handed out after the revocation signs them in.
    expect(await signIn(await code('eve'))).toBe(200);
  });
});
