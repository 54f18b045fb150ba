import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-guest-test-provider-key-0123456789';
const APP = 'https://public.example.test';

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let kw: TestGateway;
/** Other client addresses: all of 127.0.0.0/8 is loopback on Linux. */
const elsewhere = '127.0.0.2';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** A POST from `localAddress` (node:http can choose the source address of its connection). */
function post(
  path: string,
  headers: Record<string, string>,
  body?: string,
  localAddress?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${kw.dataUrl}${path}`,
      { method: 'POST', headers, ...(localAddress && { localAddress }) },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      // The proxy trust lets a test speak for IPv6 clients, which loopback cannot source.
      server: { cors: { origins: [APP] }, trustProxy: ['loopback'] },
      auth: { guest: { enabled: true, scopes: ['chat'], models: ['fast'], limits: { rpm: 1 } } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'big', provider: 'fake', model: 'gpt-4o' },
      ],
    },
    { P_KEY: PROVIDER_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

async function guestCookie(
  from?: string,
  origin = APP,
  forwardedFor?: string,
): Promise<{ status: number; cookie: string }> {
  const headers: Record<string, string> = { origin };
  if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
  const res = await post('/auth/guest', headers, undefined, from);
  const line = ([] as string[]).concat(res.headers['set-cookie'] ?? [])[0] ?? '';
  return { status: res.status, cookie: line.split(';')[0]! };
}

async function chat(cookie: string, model = 'fast', from?: string, forwardedFor?: string) {
  const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] });
  const headers: Record<string, string> = { origin: APP, cookie, 'content-type': 'application/json' };
  if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
  const res = await post('/v1/chat/completions', headers, body, from);
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field
  return { status: res.status, json: JSON.parse(res.text) as any };
}

describe('guest access', () => {
  it('gives a page without login a guest session held to the guest grant', async () => {
    const { status, cookie } = await guestCookie();
    expect(status).toBe(200);
    expect(cookie).toMatch(/^__Host-keyward_session=/);
    expect((await chat(cookie)).status).toBe(200);
    expect((await chat(cookie, 'big')).json.error.code).toBe('model_not_allowed');
  });

  it('limits guests per client address, however many guest sessions it opens', async () => {
    const first = await guestCookie(elsewhere);
    expect(first.status).toBe(200);
    expect((await chat(first.cookie, 'fast', elsewhere)).status).toBe(200);
    const second = await guestCookie(elsewhere);
    expect(second.status).toBe(200);
    const limited = await chat(second.cookie, 'fast', elsewhere);
    expect(limited.status).toBe(429);
    expect(limited.json.error.code).toBe('rate_limit_exceeded');
  });

  it('limits guest logins per address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await guestCookie('127.0.0.3')).status);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses[10]).toBe(429);
  });

  it('counts an IPv6 client per /64, not per address: it holds the whole prefix', async () => {
    const first = await guestCookie(undefined, APP, '2001:db8:1:2::1');
    expect(first.status).toBe(200);
    expect((await chat(first.cookie, 'fast', undefined, '2001:db8:1:2::1')).status).toBe(200);
    const other = await chat(first.cookie, 'fast', undefined, '2001:db8:1:2:ffff::7');
    expect(other.status).toBe(429);
    expect(other.json.error.code).toBe('rate_limit_exceeded');
    // Another /64 is another client.
    const elsewhere = await guestCookie(undefined, APP, '2001:db8:1:3::1');
    expect((await chat(elsewhere.cookie, 'fast', undefined, '2001:db8:1:3::1')).status).toBe(200);
  });

  it('limits guest logins per /64 for an IPv6 client', async () => {
    const statuses: number[] = [];
    for (let i = 1; i <= 11; i++)
      statuses.push((await guestCookie(undefined, APP, `2001:db8:9:9::${i}`)).status);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses[10]).toBe(429);
  });

  it('refuses a guest login from another origin', async () => {
    const res = await guestCookie(undefined, 'https://evil.example.test');
    expect(res.status).toBe(403);
    expect(res.cookie).toBe('');
  });
});

describe('guest conversation state', () => {
  let roomy: TestGateway;
  beforeAll(async () => {
    roomy = await startTestGateway(
      {
        server: { cors: { origins: [APP] } },
        auth: { guest: { enabled: true, scopes: ['chat'], limits: { rpm: 20 }, maxStored: 2 } },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { P_KEY: PROVIDER_KEY },
    );
  });
  afterAll(async () => {
    await roomy?.close();
  });

  const call = async (cookie: string, method: string, path: string, body: unknown = {}) => {
    const res = await fetch(`${roomy.dataUrl}${path}`, {
      method,
      headers: { origin: APP, cookie, 'content-type': 'application/json' },
      ...(method === 'POST' && { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as { id?: string; error?: { code: string } } };
  };
  const login = async () => {
    const res = await fetch(`${roomy.dataUrl}/auth/guest`, { method: 'POST', headers: { origin: APP } });
    expect(res.status).toBe(200);
    return res.headers.getSetCookie()[0]!.split(';')[0]!;
  };

  it('lets a guest session keep at most auth.guest.maxStored responses and conversations', async () => {
    const guest = await login();
    const first = await call(guest, 'POST', '/v1/conversations');
    expect(first.status).toBe(200);
    const asked = { model: 'fast', input: 'Hello' };
    expect((await call(guest, 'POST', '/v1/responses', asked)).status).toBe(200);
    const calls = fake.requests.length;
    // Full: refused before anything is sent to the provider.
    for (const [path, body] of [
      ['/v1/conversations', {}],
      ['/v1/responses', asked],
    ] as const) {
      const refused = await call(guest, 'POST', path, body);
      expect(refused.status, path).toBe(403);
      expect(refused.json.error?.code).toBe('stored_limit_reached');
    }
    expect(fake.requests.length).toBe(calls);
    // What stores nothing is served, and deleting makes room again.
    expect((await call(guest, 'POST', '/v1/responses', { ...asked, store: false })).status).toBe(200);
    expect((await call(guest, 'DELETE', `/v1/conversations/${first.json.id}`)).status).toBe(200);
    expect((await call(guest, 'POST', '/v1/conversations')).status).toBe(200);
    // Another guest session has room of its own.
    expect((await call(await login(), 'POST', '/v1/conversations')).status).toBe(200);
  });

  it('keeps each guest session its own conversations, though guests share an address and its limits', async () => {
    const [ana, ben] = [await login(), await login()];
    const created = await call(ana, 'POST', '/v1/conversations');
    expect(created.status).toBe(200);
    const path = `/v1/conversations/${created.json.id}`;
    expect((await call(ana, 'GET', path)).status).toBe(200);
    for (const method of ['GET', 'DELETE']) {
      const other = await call(ben, method, path);
      expect(other.status, method).toBe(404);
      expect(other.json.error?.code).toBe('not_found');
    }
    expect((await call(ana, 'GET', path)).status).toBe(200);
  });
});

describe('guest sessions follow the guest configuration', () => {
  it('are held to the guest grant configured now, and refused once guests are turned off', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyward-guest-'));
    const open = (guest: Record<string, unknown>) =>
      startTestGateway(
        {
          server: { cors: { origins: [APP] } },
          auth: { guest },
          providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
          models: [
            { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
            { name: 'big', provider: 'fake', model: 'gpt-4o' },
          ],
        },
        { P_KEY: PROVIDER_KEY },
        dataDir,
      );
    let gateway = await open({ enabled: true, scopes: ['chat'], limits: { rpm: 100 } });
    const login = await fetch(`${gateway.dataUrl}/auth/guest`, { method: 'POST', headers: { origin: APP } });
    const cookies = login.headers.getSetCookie().map((line) => line.split(';')[0]!);
    const session = cookies.find((c) => c.startsWith('__Host-keyward_session='))!;
    const refresh = cookies.find((c) => c.startsWith('__Host-keyward_refresh='))!;
    const chat = async (model: string) => {
      const res = await fetch(`${gateway.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { origin: APP, cookie: session, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    try {
      expect(await chat('big')).toBe(200);
      await gateway.close();
      // Narrowed: a session opened under the wider grant is held to the new one.
      gateway = await open({ enabled: true, scopes: ['chat'], models: ['fast'], limits: { rpm: 100 } });
      expect(await chat('big')).toBe(403);
      expect(await chat('fast')).toBe(200);
      await gateway.close();
      // Turned off: guest sessions already open end with it.
      gateway = await open({ enabled: false });
      expect(await chat('fast')).toBe(401);
      const refreshed = await fetch(`${gateway.dataUrl}/auth/refresh`, {
        method: 'POST',
        headers: { origin: APP, cookie: refresh },
      });
      expect(refreshed.status).toBe(401);
    } finally {
      await gateway.close();
    }
  });
});

describe('limits all guests share', () => {
  it('holds guests from every address to auth.guest.total: logins per minute and requests per minute', async () => {
    const gateway = await startTestGateway(
      {
        server: { cors: { origins: [APP] }, trustProxy: ['loopback'] },
        auth: {
          guest: {
            enabled: true,
            scopes: ['chat'],
            limits: { rpm: 10 },
            total: { limits: { rpm: 3 }, loginsPerMinute: 12 },
          },
        },
        providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
        models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
      },
      { P_KEY: PROVIDER_KEY },
    );
    const login = async (address: string) => {
      const res = await fetch(`${gateway.dataUrl}/auth/guest`, {
        method: 'POST',
        headers: { origin: APP, 'x-forwarded-for': address },
      });
      const body = (await res.json()) as { error?: { code: string; message: string } };
      const cookie = res.headers.getSetCookie()[0]?.split(';')[0] ?? '';
      return { status: res.status, body, cookie };
    };
    const chat = async (cookie: string, address: string) => {
      const res = await fetch(`${gateway.dataUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { origin: APP, cookie, 'x-forwarded-for': address, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    try {
      // Ten logins an address may make a minute; those it may not make are not counted against
      // everyone's twelve.
      const a = await login('2001:db8:a::1');
      expect(a.status).toBe(200);
      const more: number[] = [];
      for (let i = 0; i < 14; i++) more.push((await login('2001:db8:a::1')).status);
      expect(more.filter((status) => status === 200)).toHaveLength(9);
      const b = await login('2001:db8:b::1');
      const c = await login('2001:db8:c::1');
      expect([b.status, c.status]).toEqual([200, 200]);
      const d = await login('2001:db8:d::1');
      expect(d.status).toBe(429);
      expect(d.body.error).toMatchObject({ code: 'too_many_guest_logins' });
      expect(d.body.error?.message).toContain('right now');
      // Three requests a minute for all guests together, though each address may send ten.
      expect(await chat(a.cookie, '2001:db8:a::1')).toBe(200);
      expect(await chat(b.cookie, '2001:db8:b::1')).toBe(200);
      expect(await chat(c.cookie, '2001:db8:c::1')).toBe(200);
      expect(await chat(a.cookie, '2001:db8:a::1')).toBe(429);
    } finally {
      await gateway.close();
    }
  });
});
