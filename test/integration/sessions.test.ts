import { once } from 'node:events';
import { connect } from 'node:net';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';

const PROVIDER_KEY = 'sk-session-test-provider-key-0123456789';
const APP = 'https://app.example.test';
const EVIL = 'https://evil.example.test';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake;
let kw: TestGateway;

beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  kw = await startTestGateway(
    {
      server: { cors: { origins: [APP], maxAge: 120 } },
      auth: { sessions: { reuseGraceSec: 0 } },
      providers: [{ id: 'fake', type: 'openai', baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
      models: [
        { name: 'fast', provider: 'fake', model: 'gpt-4o-mini' },
        { name: 'big', provider: 'fake', model: 'gpt-4o' },
      ],
    },
    { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY },
  );
});
afterAll(async () => {
  await kw?.close();
  await fake?.close();
});

interface Jar {
  session?: string;
  refresh?: string;
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers are read field by field
type Json = any;

/** The cookies a response sets, as a browser would store them (name → value). */
function stored(headers: Record<string, string | string[] | undefined>): Jar {
  const lines = ([] as string[]).concat(headers['set-cookie'] ?? []);
  const jar: Jar = {};
  for (const line of lines) {
    const [pair] = line.split(';');
    const [name, value] = pair!.split('=');
    if (name === '__Host-keyward_session') jar.session = value;
    if (name === '__Host-keyward_refresh') jar.refresh = value;
  }
  return jar;
}

const cookieHeader = (jar: Jar) =>
  [
    jar.session && `__Host-keyward_session=${jar.session}`,
    jar.refresh && `__Host-keyward_refresh=${jar.refresh}`,
  ]
    .filter(Boolean)
    .join('; ');

async function call(
  method: 'GET' | 'POST' | 'OPTIONS',
  path: string,
  options: { jar?: Jar; origin?: string | null; body?: unknown; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.origin !== null) headers.origin = options.origin ?? APP;
  if (options.jar) headers.cookie = cookieHeader(options.jar);
  if (options.body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await request(`${kw.dataUrl}${path}`, {
    method,
    headers,
    ...(options.body !== undefined && {
      body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    }),
  });
  const text = await res.body.text();
  let json: Json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

/** Polls `read` until `done` holds or 5 s pass (audit records are written in batches); returns the last answer. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5_000;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

const chatBody = (model = 'fast') => ({ model, messages: [{ role: 'user', content: 'hi' }] });

async function mintCode(spec: Record<string, unknown> = { userId: 'alice' }, credential = ADMIN_KEY) {
  return adminCall(kw.adminUrl, 'POST', '/admin/sessions', spec, credential);
}

async function login(spec?: Record<string, unknown>): Promise<{ jar: Jar; json: Json }> {
  const minted = await mintCode(spec);
  expect(minted.status).toBe(201);
  const res = await call('POST', '/auth/session', { body: { code: minted.json.code } });
  expect(res.status).toBe(200);
  return { jar: stored(res.headers), json: res.json };
}

describe('login with a one-time code', () => {
  it('mints a single-use code and exchanges it for two __Host- cookies', async () => {
    const minted = await mintCode({ userId: 'alice', models: ['fast'] });
    expect(minted.status).toBe(201);
    expect(minted.json).toEqual({ code: expect.stringMatching(/^kwc_[A-Za-z0-9_-]{43}$/), expiresIn: 60 });

    const res = await call('POST', '/auth/session', { body: { code: minted.json.code } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ userId: 'alice', expiresAt: expect.any(String) });
    const lines = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line).toMatch(/^__Host-keyward_(session|refresh)=/);
      expect(line).toContain('; Path=/; Secure; HttpOnly; SameSite=Lax');
      expect(line).not.toMatch(/domain=/i);
    }

    const again = await call('POST', '/auth/session', { body: { code: minted.json.code } });
    expect(again.status).toBe(401);
    expect(again.json.error.code).toBe('invalid_login_code');
    const unknown = await call('POST', '/auth/session', { body: { code: `kwc_${'A'.repeat(43)}` } });
    expect(unknown.json).toEqual(again.json);
    const garbage = await call('POST', '/auth/session', { body: { code: 'not-a-code' } });
    expect(garbage.json).toEqual(again.json);
  });

  it('refuses a code exchange from a foreign origin or without one', async () => {
    const minted = await mintCode();
    const foreign = await call('POST', '/auth/session', { origin: EVIL, body: { code: minted.json.code } });
    expect(foreign.status).toBe(403);
    expect(foreign.json.error.code).toBe('origin_not_allowed');
    const none = await call('POST', '/auth/session', { origin: null, body: { code: minted.json.code } });
    expect(none.status).toBe(403);
    expect(none.json.error.code).toBe('origin_required');
    // Neither refusal used the code up.
    expect((await call('POST', '/auth/session', { body: { code: minted.json.code } })).status).toBe(200);
  });

  it('holds the session to the scopes and models it was granted', async () => {
    const { jar } = await login({ userId: 'bob', models: ['fast'] });
    const ok = await call('POST', '/v1/chat/completions', { jar, body: chatBody('fast') });
    expect(ok.status).toBe(200);
    expect(ok.json.choices[0].message.content).toContain('Hello from the fake provider');
    const other = await call('POST', '/v1/chat/completions', { jar, body: chatBody('big') });
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('model_not_allowed');

    const narrow = await login({ userId: 'bob', scopes: ['models:read'] });
    const denied = await call('POST', '/v1/chat/completions', { jar: narrow.jar, body: chatBody() });
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe('insufficient_scope');
  });

  it('applies the session limits like a token', async () => {
    const { jar } = await login({ userId: 'carol', limits: { rpm: 1 } });
    expect((await call('POST', '/v1/chat/completions', { jar, body: chatBody() })).status).toBe(200);
    const limited = await call('POST', '/v1/chat/completions', { jar, body: chatBody() });
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBeDefined();
  });

  it('serves the official OpenAI SDK with the cookie as its credential (the README recipe)', async () => {
    const { jar } = await login({ userId: 'sdk-user' });
    const client = new OpenAI({
      baseURL: `${kw.dataUrl}/v1`,
      apiKey: 'cookie',
      maxRetries: 0,
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        headers.delete('authorization');
        // What the browser adds by itself with credentials: 'include'.
        headers.set('cookie', cookieHeader(jar));
        headers.set('origin', APP);
        return fetch(url, { ...init, headers });
      },
    });
    const stream = await client.chat.completions.create({
      model: 'fast',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    expect(text).toContain('Hello from the fake provider');
  });

  it('describes the current session', async () => {
    const { jar } = await login({ userId: 'dora', models: ['fast'] });
    const res = await call('GET', '/auth/session', { jar });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ userId: 'dora', guest: false, models: ['fast'] });
    expect(JSON.stringify(res.json)).not.toContain(jar.session!.split('.')[1]);
  });
});

describe('cookie requests: CSRF', () => {
  it('needs an allowed Origin or Sec-Fetch-Site: same-origin, and a JSON body', async () => {
    const { jar } = await login();
    const foreign = await call('POST', '/v1/chat/completions', { jar, origin: EVIL, body: chatBody() });
    expect(foreign.status).toBe(403);
    expect(foreign.json.error.code).toBe('origin_not_allowed');
    const none = await call('POST', '/v1/chat/completions', { jar, origin: null, body: chatBody() });
    expect(none.status).toBe(403);
    expect(none.json.error.code).toBe('origin_required');
    const crossSite = await call('POST', '/v1/chat/completions', {
      jar,
      origin: null,
      headers: { 'sec-fetch-site': 'cross-site' },
      body: chatBody(),
    });
    expect(crossSite.status).toBe(403);
    const sameOrigin = await call('POST', '/v1/chat/completions', {
      jar,
      origin: null,
      headers: { 'sec-fetch-site': 'same-origin' },
      body: chatBody(),
    });
    expect(sameOrigin.status).toBe(200);
    const form = await call('POST', '/v1/chat/completions', {
      jar,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'model=fast',
    });
    expect(form.status).toBe(403);
    expect(form.json.error.code).toBe('json_body_required');
    const text = await call('POST', '/v1/chat/completions', {
      jar,
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify(chatBody()),
    });
    expect(text.status).toBe(403);
  });

  it('leaves bearer requests alone', async () => {
    const token = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'backend' });
    const res = await call('POST', '/v1/chat/completions', {
      origin: EVIL,
      headers: { authorization: `Bearer ${token.json.token}` },
      body: chatBody(),
    });
    expect(res.status).toBe(200);
  });

  it('answers a tampered or unknown cookie with one generic 401', async () => {
    const { jar } = await login();
    const [id, secret] = jar.session!.split('.');
    const flipped = `${id}.${secret!.slice(0, -1)}${secret!.endsWith('A') ? 'B' : 'A'}`;
    const tampered = await call('GET', '/v1/models', { jar: { session: flipped } });
    expect(tampered.status).toBe(401);
    expect(tampered.json.error.code).toBe('invalid_session');
    const unknown = await call('GET', '/v1/models', { jar: { session: `${'a'.repeat(26)}.${secret}` } });
    expect(unknown.json).toEqual(tampered.json);
    const junk = await call('GET', '/v1/models', { jar: { session: 'junk' } });
    expect(junk.json).toEqual(tampered.json);
    expect((await call('GET', '/v1/models', { jar })).status).toBe(200);
  });
});

describe('refresh, reuse detection and logout', () => {
  it('rotates both cookies; the new session cookie works', async () => {
    const { jar } = await login({ userId: 'erin' });
    const res = await call('POST', '/auth/refresh', { jar });
    expect(res.status).toBe(200);
    const next = stored(res.headers);
    expect(next.session).toBeDefined();
    expect(next.refresh).toBeDefined();
    expect(next.session).not.toBe(jar.session);
    expect(next.refresh).not.toBe(jar.refresh);
    expect(next.session!.split('.')[0]).toBe(jar.session!.split('.')[0]);
    expect((await call('GET', '/v1/models', { jar: next })).status).toBe(200);
    // The replaced session cookie no longer works.
    expect((await call('GET', '/v1/models', { jar: { session: jar.session } })).status).toBe(401);
  });

  it('ends the whole login when a replaced refresh token comes back', async () => {
    const { jar } = await login({ userId: 'frank' });
    const rotated = stored((await call('POST', '/auth/refresh', { jar })).headers);
    const replay = await call('POST', '/auth/refresh', { jar: { refresh: jar.refresh } });
    expect(replay.status).toBe(401);
    expect(replay.json.error.code).toBe('invalid_refresh_token');
    // The thief's replay took the legitimate holder's newer cookies down with it.
    expect((await call('GET', '/v1/models', { jar: { session: rotated.session } })).status).toBe(401);
    expect((await call('POST', '/auth/refresh', { jar: { refresh: rotated.refresh } })).status).toBe(401);
    const id = rotated.session!.split('.')[0]!;
    const audit = await until(
      () => adminCall(kw.adminUrl, 'GET', '/admin/audit?type=session.refresh_reused'),
      (answer) => answer.text.includes(id),
    );
    expect(audit.text).toContain(id);
    expect(audit.text).not.toContain(jar.refresh!.split('.')[2]);
  });

  it('refuses a missing, tampered or unknown refresh token alike', async () => {
    const missing = await call('POST', '/auth/refresh', {});
    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe('missing_refresh_token');
    const { jar } = await login();
    const [id, generation, secret] = jar.refresh!.split('.');
    const tampered = await call('POST', '/auth/refresh', {
      jar: { refresh: `${id}.${generation}.${secret!.slice(1)}x` },
    });
    const unknown = await call('POST', '/auth/refresh', {
      jar: { refresh: `${'b'.repeat(26)}.${generation}.${secret}` },
    });
    expect(tampered.status).toBe(401);
    expect(unknown.json).toEqual(tampered.json);
    // Someone guessing cannot end the login: the real refresh token still works.
    expect((await call('POST', '/auth/refresh', { jar })).status).toBe(200);
  });

  it('logs out: cookies cleared, session and refresh token dead', async () => {
    const { jar } = await login({ userId: 'gina' });
    const res = await call('POST', '/auth/logout', { jar });
    expect(res.status).toBe(204);
    const lines = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    expect(lines.every((line) => line.includes('Max-Age=0'))).toBe(true);
    expect((await call('GET', '/v1/models', { jar })).status).toBe(401);
    expect((await call('POST', '/auth/refresh', { jar })).status).toBe(401);
    const foreign = await call('POST', '/auth/logout', { jar, origin: EVIL });
    expect(foreign.status).toBe(403);
  });
});

describe('admin API', () => {
  it('lists and revokes sessions by id and by user', async () => {
    const first = await login({ userId: 'henry' });
    const second = await login({ userId: 'henry' });
    const list = await adminCall(kw.adminUrl, 'GET', '/admin/sessions?user=henry');
    expect(list.status).toBe(200);
    expect(list.json.sessions).toHaveLength(2);
    expect(list.text).not.toMatch(/hash/i);
    const id = first.jar.session!.split('.')[0];
    const revoked = await adminCall(kw.adminUrl, 'DELETE', `/admin/sessions/${id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.json.revokedAt).not.toBeNull();
    expect((await call('GET', '/v1/models', { jar: first.jar })).status).toBe(401);
    expect((await call('GET', '/v1/models', { jar: second.jar })).status).toBe(200);

    const all = await adminCall(kw.adminUrl, 'DELETE', '/admin/sessions?user=henry');
    expect(all.json.revoked).toBe(1);
    expect((await call('GET', '/v1/models', { jar: second.jar })).status).toBe(401);
    expect((await adminCall(kw.adminUrl, 'DELETE', `/admin/sessions/${'c'.repeat(26)}`)).status).toBe(404);
  });

  it('lists sessions a page at a time, each page naming the next', async () => {
    for (let i = 0; i < 3; i++) await login({ userId: 'paged' });
    const first = await adminCall(kw.adminUrl, 'GET', '/admin/sessions?user=paged&limit=2');
    expect(first.json.sessions).toHaveLength(2);
    expect(first.json.next).toMatch(/^\d+\.[a-z2-7]{26}$/);
    const second = await adminCall(
      kw.adminUrl,
      'GET',
      `/admin/sessions?user=paged&limit=2&after=${first.json.next}`,
    );
    expect(second.json.sessions).toHaveLength(1);
    expect(second.json.next).toBeNull();
    const ids = [...first.json.sessions, ...second.json.sessions].map((s: { id: string }) => s.id);
    expect(new Set(ids).size).toBe(3);
    for (const query of ['limit=0', 'limit=1001', 'after=yesterday']) {
      const bad = await adminCall(kw.adminUrl, 'GET', `/admin/sessions?${query}`);
      expect(bad.status, query).toBe(400);
    }
  });

  it('lets a token with the sessions scope mint codes no wider than itself', async () => {
    const backend = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'app-backend',
      scopes: ['sessions', 'chat', 'models:read'],
      models: ['fast'],
    });
    const token = backend.json.token as string;
    const ok = await mintCode({ userId: 'ivy', models: ['fast'] }, token);
    expect(ok.status).toBe(201);
    const wider = await mintCode({ userId: 'ivy', models: ['big'] }, token);
    expect(wider.status).toBe(403);
    expect(wider.json.error.code).toBe('session_wider_than_creator');
    expect((await adminCall(kw.adminUrl, 'GET', '/admin/sessions', undefined, token)).status).toBe(403);

    // The admin scope beside it takes nothing away: such a token mints codes too.
    const both = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'admin-and-sessions',
      scopes: ['admin', 'sessions', 'chat', 'models:read'],
      models: ['fast'],
    });
    expect((await mintCode({ userId: 'ivy', models: ['fast'] }, both.json.token)).status).toBe(201);
    expect((await adminCall(kw.adminUrl, 'GET', '/admin/sessions', undefined, both.json.token)).status).toBe(
      403,
    );

    const plain = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', { name: 'no-sessions' });
    expect((await mintCode({ userId: 'ivy' }, plain.json.token)).status).toBe(403);

    // A user's own token signs in that user only: another's budget, limits and stored
    // conversations are keyed by their id.
    const users = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'ivy-sessions',
      userId: 'ivy',
      scopes: ['sessions', 'chat'],
    });
    expect((await mintCode({ userId: 'ivy' }, users.json.token)).status).toBe(201);
    const other = await mintCode({ userId: 'jack' }, users.json.token);
    expect(other.status).toBe(403);
    expect(other.json.error).toMatchObject({ code: 'session_wider_than_creator' });
    expect(other.json.error.message).toContain("belongs to user 'ivy'");
    const bad = await mintCode({ userId: 'ivy', scopes: ['admin'] });
    expect(bad.status).toBe(400);

    // A tiered back end's sessions keep its tier (whose limits may be larger than another's).
    const tiered = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'tiered-backend',
      scopes: ['sessions', 'chat'],
      metadata: { tier: 'free' },
    });
    expect((await mintCode({ userId: 'kim' }, tiered.json.token)).status).toBe(201);
    expect((await mintCode({ userId: 'kim', metadata: { team: 'a' } }, tiered.json.token)).status).toBe(201);
    const retiered = await mintCode({ userId: 'kim', metadata: { tier: 'pro' } }, tiered.json.token);
    expect(retiered.status).toBe(403);
    expect(retiered.json.error.message).toContain('metadata.tier');
  });
});

describe('sessions signed in by a token', () => {
  async function backend(spec: Record<string, unknown> = {}) {
    const minted = await adminCall(kw.adminUrl, 'POST', '/admin/tokens', {
      name: 'app-backend',
      scopes: ['sessions', 'chat', 'models:read'],
      ...spec,
    });
    expect(minted.status).toBe(201);
    return { id: minted.json.id as string, token: minted.json.token as string };
  }

  async function signIn(token: string, userId: string): Promise<Jar> {
    const code = await mintCode({ userId }, token);
    expect(code.status).toBe(201);
    const res = await call('POST', '/auth/session', { body: { code: code.json.code } });
    expect(res.status).toBe(200);
    return stored(res.headers);
  }

  it('end when that token is revoked, here at once and everywhere from the store', async () => {
    const app = await backend();
    const alice = await signIn(app.token, 'alice');
    const bob = await signIn(app.token, 'bob');
    const unused = await mintCode({ userId: 'carol' }, app.token);
    expect((await call('POST', '/v1/chat/completions', { jar: alice, body: chatBody() })).status).toBe(200);

    expect((await adminCall(kw.adminUrl, 'DELETE', `/admin/tokens/${app.id}`)).status).toBe(200);
    // The session cached on this instance ends at once, and its refresh token with it.
    expect((await call('POST', '/v1/chat/completions', { jar: alice, body: chatBody() })).status).toBe(401);
    expect((await call('POST', '/auth/refresh', { jar: { refresh: bob.refresh } })).status).toBe(401);
    expect((await call('POST', '/auth/session', { body: { code: unused.json.code } })).status).toBe(401);
    // The store revoked them too, which is how other instances learn of it.
    const listed = await adminCall(kw.adminUrl, 'GET', '/admin/sessions?user=alice&includeRevoked=true');
    const stale = (
      listed.json.sessions as Array<{ createdBy: string | null; revokedReason: string | null }>
    ).filter((session) => session.createdBy === app.id);
    expect(stale.length).toBeGreaterThan(0);
    for (const session of stale) expect(session.revokedReason).toBe('token_revoked');
  });

  it("are held to that token's limits: signing in many users does not multiply them", async () => {
    const app = await backend({ limits: { rpm: 2 } });
    const users = await Promise.all(['dora', 'eli', 'fay'].map((user) => signIn(app.token, user)));
    const statuses: number[] = [];
    for (const jar of users)
      statuses.push((await call('POST', '/v1/chat/completions', { jar, body: chatBody() })).status);
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('CORS', () => {
  it('answers an allowed preflight before authentication, echoing the exact origin', async () => {
    const res = await call('OPTIONS', '/v1/chat/completions', {
      headers: {
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type, authorization, x-stainless-os',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-headers']).toBe('content-type, authorization, x-stainless-os');
    expect(res.headers['access-control-max-age']).toBe('120');
    expect(res.headers.vary).toBe('Origin, Access-Control-Request-Headers');
  });

  it('refuses a preflight from another origin and adds no CORS headers for it', async () => {
    const res = await call('OPTIONS', '/v1/chat/completions', {
      origin: EVIL,
      headers: { 'access-control-request-method': 'POST' },
    });
    expect(res.status).toBe(403);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    // In the envelope of the surface asked for, as every other refusal.
    const messages = await call('OPTIONS', '/v1/messages', {
      origin: EVIL,
      headers: { 'access-control-request-method': 'POST' },
    });
    expect(messages.status).toBe(403);
    expect(messages.json).toMatchObject({
      type: 'error',
      error: { type: 'permission_error', message: expect.stringContaining('server.cors.origins') },
    });
    expect(messages.headers['x-request-id']).toBeDefined();
    const nullOrigin = await call('OPTIONS', '/v1/chat/completions', {
      origin: 'null',
      headers: { 'access-control-request-method': 'POST' },
    });
    expect(nullOrigin.headers['access-control-allow-origin']).toBeUndefined();
    const actual = await call('GET', '/v1/models', { origin: EVIL });
    expect(actual.headers['access-control-allow-origin']).toBeUndefined();
    expect(actual.headers.vary).toContain('Origin');
  });

  it('holds a preflight to the rules of a request head: without Host it is 400, in the envelope', async () => {
    const { port } = new URL(kw.dataUrl);
    const socket = connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk;
    });
    socket.write(
      `OPTIONS /v1/chat/completions HTTP/1.1\r\nOrigin: ${APP}\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n`,
    );
    await once(socket, 'close');
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"code":"missing_host"');
  });

  it('lets the page read errors and quota headers', async () => {
    const res = await call('GET', '/v1/models', {});
    expect(res.status).toBe(401);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-expose-headers']).toContain('x-request-id');
    // Anthropic's SDKs read `request-id`.
    expect(res.headers['access-control-expose-headers']).toMatch(/(^|, )request-id(,|$)/);
    expect(res.headers['access-control-expose-headers']).toContain('retry-after');
    expect(res.headers['access-control-expose-headers']).toContain('x-ratelimit-remaining-requests');
    // The OpenAI and Anthropic SDKs read it to know whether to send a failed request again.
    expect(res.headers['access-control-expose-headers']).toContain('x-should-retry');
  });
});

describe('guest access', () => {
  it('is refused when not enabled', async () => {
    const res = await call('POST', '/auth/guest', {});
    expect(res.status).toBe(403);
    expect(res.json.error.code).toBe('guest_disabled');
  });
});
