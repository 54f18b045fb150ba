import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const PROVIDER_KEY = 'sk-guard-test-provider-key-0123456789';
const NOT_A_KEY = 'kw-not-a-key-at-all-0000000000000000';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake | undefined;
const gateways: TestGateway[] = [];
afterEach(async () => {
  for (const kw of gateways.splice(0)) await kw.close();
  await fake?.close();
  fake = undefined;
});

async function start(config: Partial<ConfigInput> = {}): Promise<TestGateway> {
  fake ??= await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  const kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      ...config,
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, KEYWARD_API_KEY: CLIENT_KEY },
  );
  gateways.push(kw);
  return kw;
}

/** A chat request; `forwardedFor` is the X-Forwarded-For a proxy in front of the gateway would send. */
async function chat(kw: TestGateway, credential: string, forwardedFor?: string) {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${credential}`,
      'content-type': 'application/json',
      ...(forwardedFor !== undefined && { 'x-forwarded-for': forwardedFor }),
    },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
  });
  const json = (await res.body.json()) as { error?: { code?: string } };
  return { status: res.statusCode, code: json.error?.code, retryAfter: res.headers['retry-after'] };
}

async function mint(kw: TestGateway): Promise<{ id: string; token: string }> {
  const res = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'guarded' });
  expect(res.status).toBe(201);
  return res.json;
}

describe('the failed-authentication guard', () => {
  it('counts wrong secrets for one token id across addresses, and still serves the real secret', async () => {
    const kw = await start({ server: { trustProxy: ['127.0.0.1'] } });
    const good = await mint(kw);
    const wrong = (i: number) => `${good.token.slice(0, -4)}${String(i).padStart(4, 'A')}`;
    // Thirty guessers, one guess each: no address is over its limit, the token id is.
    for (let i = 0; i < 30; i++) {
      expect((await chat(kw, wrong(i), `198.51.100.${i + 1}`)).status).toBe(401);
    }
    const refused = await chat(kw, wrong(99), '198.51.100.200');
    expect(refused).toMatchObject({ status: 429, code: 'too_many_auth_failures' });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect((await chat(kw, good.token, '198.51.100.200')).status).toBe(200);
    // Other credentials from the guessers' addresses are unaffected.
    expect((await chat(kw, NOT_A_KEY, '198.51.100.201')).status).toBe(401);
  });

  it('behind a trusted proxy, counts the right-most untrusted address, whatever the client prepends', async () => {
    const kw = await start({ server: { trustProxy: ['127.0.0.1'] } });
    const answers = [];
    // The client rotates what it writes into X-Forwarded-For; the proxy appends the address it saw.
    for (let i = 0; i < 31; i++) answers.push(await chat(kw, NOT_A_KEY, `10.9.${i}.1, 203.0.113.7`));
    expect(answers.slice(0, 30).every((a) => a.status === 401)).toBe(true);
    expect(answers[30]).toMatchObject({ status: 429, code: 'too_many_auth_failures' });
    // Another client behind the same proxy is another address.
    expect((await chat(kw, NOT_A_KEY, '203.0.113.8')).status).toBe(401);
    // And a valid key from the blocked address is served.
    expect((await chat(kw, CLIENT_KEY, '10.0.0.1, 203.0.113.7')).status).toBe(200);
  });

  it('audits an IPv6 /64 as one client: a fresh address per guess writes no more records', async () => {
    const kw = await start({ server: { trustProxy: ['127.0.0.1'] } });
    for (let i = 1; i <= 40; i++) await chat(kw, NOT_A_KEY, `2001:db8:1:2::${i.toString(16)}`);
    const failed = await adminCall(kw.adminUrl, 'GET', '/admin/audit?type=auth.failed&limit=1000');
    const actors = (failed.json.records as Array<{ actor: string }>).map((r) => r.actor);
    // The first ten, each under its own address; the rest are counted into one summary.
    expect(actors).toEqual(Array.from({ length: 10 }, (_, i) => `2001:db8:1:2::${(i + 1).toString(16)}`));
  });

  it('without trustProxy, ignores X-Forwarded-For: every client is the peer address', async () => {
    const kw = await start();
    for (let i = 0; i < 30; i++) expect((await chat(kw, NOT_A_KEY, `198.51.100.${i + 1}`)).status).toBe(401);
    expect((await chat(kw, NOT_A_KEY, '198.51.100.99')).status).toBe(429);
  });

  it('answers 429 on the admin listener after 30 wrong admin keys, and still serves the admin key', async () => {
    const kw = await start();
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      statuses.push(
        (await adminCall(kw.adminUrl, 'GET', '/admin/tokens', undefined, `wrong-admin-key-${i}`)).status,
      );
    }
    expect(statuses.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(30).every((s) => s === 429)).toBe(true);
    const blocked = await adminCall(kw.adminUrl, 'GET', '/admin/tokens', undefined, 'wrong-admin-key-x');
    expect(blocked.json.error.code).toBe('too_many_auth_failures');
    expect((await adminCall(kw.adminUrl, 'GET', '/admin/tokens')).status).toBe(200);
  });

  it("never locks the dashboard's login: after 40 wrong keys from one address the admin key still logs in", async () => {
    const kw = await start();
    const login = async (credential: string) => {
      const res = await request(`${kw.adminUrl}/admin/ui/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ credential }),
      });
      await res.body.dump();
      return { status: res.statusCode, cookie: res.headers['set-cookie'] };
    };
    const wrong = [];
    for (let i = 0; i < 40; i++) wrong.push((await login(`wrong-admin-key-${i}`)).status);
    expect(wrong.slice(0, 30).every((s) => s === 401)).toBe(true);
    expect(wrong.slice(30).every((s) => s === 429)).toBe(true);
    // A guesser sharing the operator's address (a NAT, an office) must not keep the operator out.
    const right = await login(ADMIN_KEY);
    expect(right.status).toBe(200);
    expect(String(right.cookie)).toMatch(/^__Host-keyward_admin=/);
  });
});
