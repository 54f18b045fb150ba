import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeywardClient } from '../../src/client/index.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { caught } from '../support/caught.js';
import { type FakeProvider, startFakeProvider } from '../support/fake-providers/server.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { PROVIDER_KEY } from '../support/setup.js';

const ORIGIN = 'https://app.example.test';
const chatBody = { model: 'fast', messages: [{ role: 'user', content: 'Hi' }] };

/** A fetch that records each attempt's path and status, in order. */
function countingFetch() {
  const attempts: string[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    attempts.push(`${new URL(String(input)).pathname} ${response.status}`);
    return response;
  };
  return { attempts, fetcher };
}

/** keyward/client's session calls against the gateway's own /auth routes. */
describe('keyward/client sessions against the gateway (Node)', () => {
  let fake: FakeProvider;
  let kw: TestGateway;

  beforeAll(async () => {
    fake = await startFakeProvider('openai', { keys: [PROVIDER_KEY] });
    kw = await startTestGateway(
      {
        server: { cors: { origins: [ORIGIN] } },
        // A session cookie that expires within the test, so that a refresh is needed.
        auth: { sessions: { sessionTtl: '2s', reuseGraceSec: 0 } },
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

  const mintCode = async (): Promise<string> => {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', {
      userId: 'sdk-user',
      scopes: ['chat', 'models:read'],
      models: ['fast'],
    });
    expect(minted.status).toBe(201);
    return minted.json.code as string;
  };

  it('logs in with a code, refreshes an expired session once and transparently, and logs out', async () => {
    const { attempts, fetcher } = countingFetch();
    const client = new KeywardClient({ baseUrl: kw.dataUrl, headers: { origin: ORIGIN }, fetch: fetcher });
    expect(await client.sessions.login(await mintCode())).toMatchObject({ userId: 'sdk-user' });
    const first = await client.chat.completions.create(chatBody);
    expect(first.choices[0]!.message.content).toBeTruthy();

    // Past the session cookie's lifetime: the next call is refused once, refreshed, and served.
    await sleep(2_500);
    const second = await client.chat.completions.create(chatBody);
    expect(second.choices[0]!.message.content).toBeTruthy();
    expect(attempts.slice(-3)).toEqual([
      '/v1/chat/completions 401',
      '/auth/refresh 200',
      '/v1/chat/completions 200',
    ]);

    await client.sessions.logout();
    const after = await caught(client.chat.completions.create(chatBody));
    expect(after.status).toBe(401);
    expect(attempts.filter((a) => a.startsWith('/auth/refresh'))).toEqual([
      '/auth/refresh 200',
      '/auth/refresh 401',
    ]);
  });

  it('shares one refresh between requests that find the session expired together', async () => {
    const { attempts, fetcher } = countingFetch();
    const client = new KeywardClient({ baseUrl: kw.dataUrl, headers: { origin: ORIGIN }, fetch: fetcher });
    await client.sessions.login(await mintCode());
    await sleep(2_500);
    // With reuseGraceSec 0, a second refresh with the same token would end the whole login.
    const replies = await Promise.all([1, 2, 3].map(() => client.chat.completions.create(chatBody)));
    expect(replies.every((reply) => Boolean(reply.choices[0]?.message.content))).toBe(true);
    expect(attempts.filter((a) => a.startsWith('/auth/refresh'))).toEqual(['/auth/refresh 200']);
  });

  it('types a refused code, and surfaces the original 401 when there is no session to refresh', async () => {
    const { attempts, fetcher } = countingFetch();
    const client = new KeywardClient({ baseUrl: kw.dataUrl, headers: { origin: ORIGIN }, fetch: fetcher });
    expect(await caught(client.sessions.login('not-a-code'))).toMatchObject({
      status: 401,
      code: 'invalid_login_code',
    });
    expect(await caught(client.chat.completions.create(chatBody))).toMatchObject({
      status: 401,
      code: 'missing_credential',
    });
    expect(attempts.slice(-2)).toEqual(['/v1/chat/completions 401', '/auth/refresh 401']);
  });

  it('answers a code that was already used with a typed 401', async () => {
    const code = await mintCode();
    const client = new KeywardClient({ baseUrl: kw.dataUrl, headers: { origin: ORIGIN } });
    await client.sessions.login(code);
    const again = await caught(
      new KeywardClient({ baseUrl: kw.dataUrl, headers: { origin: ORIGIN } }).sessions.login(code),
    );
    expect(again.status).toBe(401);
  });
});
