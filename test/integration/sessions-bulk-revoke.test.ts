import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir, runCli } from '../support/process.js';

const PROVIDER_KEY = 'sk-bulk-revoke-provider-key-0123456789';
const APP = 'https://app.example.test';
const BOUND_MS = 1_000;

let fake: Awaited<ReturnType<typeof startFakeOpenAI>>;
let one: TestGateway;
let two: TestGateway;
let dataDir: string;

beforeAll(async () => {
  fake = await startFakeOpenAI({ keys: [PROVIDER_KEY] });
  dataDir = freshDataDir();
  const config = {
    server: { cors: { origins: [APP] } },
    // Two instances share the store, each with limits of its own.
    rateLimits: { perInstance: true },
    auth: { guest: { enabled: true, scopes: ['models:read' as const], limits: { rpm: 1000 } } },
    providers: [{ id: 'fake', type: 'openai' as const, baseUrl: `${fake.url}/v1`, keys: { env: 'P_KEY' } }],
    models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
  };
  const env = { P_KEY: PROVIDER_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY };
  one = await startTestGateway(config, env, dataDir);
  two = await startTestGateway(config, env, dataDir);
});
afterAll(async () => {
  await one?.close();
  await two?.close();
  await fake?.close();
});

interface Jar {
  session: string;
  refresh: string;
}

async function jarOf(res: Awaited<ReturnType<typeof request>>): Promise<Jar> {
  await res.body.text();
  expect(res.statusCode).toBe(200);
  const lines = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const value = (name: string) => lines.find((l) => l.startsWith(name))!.split(';')[0]!;
  return { session: value('__Host-keyward_session'), refresh: value('__Host-keyward_refresh') };
}

const post = (kw: TestGateway, path: string, cookie?: string, body?: unknown) =>
  request(`${kw.dataUrl}${path}`, {
    method: 'POST',
    headers: {
      origin: APP,
      ...(cookie && { cookie }),
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });

const guest = async (kw: TestGateway) => jarOf(await post(kw, '/auth/guest'));

async function user(kw: TestGateway, userId: string): Promise<Jar> {
  const minted = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', { userId, scopes: ['models:read'] });
  return jarOf(await post(kw, '/auth/session', undefined, { code: minted.json.code }));
}

async function status(kw: TestGateway, cookie: string): Promise<number> {
  const res = await request(`${kw.dataUrl}/v1/models`, { headers: { origin: APP, cookie } });
  await res.body.text();
  return res.statusCode;
}

/** Polls until `kw` answers 401 or the bound passes; returns the last status. */
async function refusedWithin(kw: TestGateway, cookie: string): Promise<number> {
  const deadline = Date.now() + BOUND_MS;
  let last = await status(kw, cookie);
  while (last !== 401 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    last = await status(kw, cookie);
  }
  return last;
}

async function refreshStatus(kw: TestGateway, jar: Jar): Promise<number> {
  const res = await post(kw, '/auth/refresh', jar.refresh);
  await res.body.text();
  return res.statusCode;
}

const idOf = (jar: Jar) => jar.session.split('=')[1]!.split('.')[0]!;

async function revokedAudit(kw: TestGateway): Promise<Array<{ actor: string; data: unknown }>> {
  return (await adminCall(kw.adminUrl, 'GET', '/admin/audit?type=session.revoked&limit=1000')).json.records;
}

describe('bulk session revocation on two instances sharing one store', () => {
  it('DELETE /admin/sessions?guest=true ends every guest session on both instances, refresh included, and no other', async () => {
    const guests = [await guest(one), await guest(two)];
    const member = await user(one, 'kept');
    // Cached as live on both instances before the revocation.
    for (const jar of [...guests, member]) {
      expect(await status(one, jar.session)).toBe(200);
      expect(await status(two, jar.session)).toBe(200);
    }
    const revoked = await adminCall(one.adminUrl, 'DELETE', '/admin/sessions?guest=true');
    expect(revoked.status).toBe(200);
    expect(revoked.json.revoked).toBeGreaterThanOrEqual(2);
    for (const jar of guests) {
      expect(await refusedWithin(one, jar.session)).toBe(401);
      expect(await refusedWithin(two, jar.session)).toBe(401);
      expect(await refreshStatus(two, jar)).toBe(401);
      expect(await refreshStatus(one, jar)).toBe(401);
    }
    expect(await status(two, member.session)).toBe(200);
    expect(await refreshStatus(two, member)).toBe(200);
    // Guests stay on: a new guest signs in and is served.
    expect(await status(two, (await guest(two)).session)).toBe(200);

    const listed = await adminCall(one.adminUrl, 'GET', '/admin/sessions?includeRevoked=true&limit=1000');
    for (const jar of guests) {
      const view = listed.json.sessions.find((s: { id: string }) => s.id === idOf(jar));
      expect(view).toMatchObject({ guest: true, revokedReason: 'admin' });
    }
    expect(await revokedAudit(one)).toContainEqual(
      expect.objectContaining({ actor: 'admin', data: { guest: true, count: revoked.json.revoked } }),
    );
  });

  it("DELETE /admin/sessions?user=U ends that user's sessions on both instances, refresh included", async () => {
    const mine = [await user(one, 'bulk-user'), await user(two, 'bulk-user')];
    const other = await user(one, 'bulk-other');
    for (const jar of mine) expect(await status(two, jar.session)).toBe(200);
    const revoked = await adminCall(two.adminUrl, 'DELETE', '/admin/sessions?user=bulk-user');
    expect(revoked.json).toEqual({ revoked: 2, sessions: expect.arrayContaining(mine.map(idOf)) });
    for (const jar of mine) {
      expect(await refusedWithin(one, jar.session)).toBe(401);
      expect(await refusedWithin(two, jar.session)).toBe(401);
      expect(await refreshStatus(one, jar)).toBe(401);
    }
    expect(await status(one, other.session)).toBe(200);
    expect(await revokedAudit(two)).toContainEqual(
      expect.objectContaining({ actor: 'admin', data: { userId: 'bulk-user', count: 2 } }),
    );
  });

  it('refuses a bulk revocation that names no one, both kinds, or a listing option', async () => {
    const none = await adminCall(one.adminUrl, 'DELETE', '/admin/sessions');
    expect(none.status).toBe(400);
    expect(none.json.error.message).toContain('?guest=true');
    const both = await adminCall(one.adminUrl, 'DELETE', '/admin/sessions?user=u&guest=true');
    expect(both.status).toBe(400);
    expect(both.json.error.code).toBe('conflicting_params');
    // A page size means nothing here: refused rather than revoking every session of the user.
    expect((await adminCall(one.adminUrl, 'DELETE', '/admin/sessions?user=u&limit=1')).status).toBe(400);
    expect((await adminCall(one.adminUrl, 'DELETE', '/admin/sessions?guest=false')).status).toBe(400);
  });

  it('keyward sessions revoke --guests ends every guest session on the running instances', async () => {
    const jar = await guest(one);
    const member = await user(two, 'cli-kept');
    expect(await status(two, jar.session)).toBe(200);
    const env = { KEYWARD_DATA_DIR: dataDir };
    const json = await runCli(['sessions', 'revoke', '--guests', '--json'], { env });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).revoked).toBeGreaterThanOrEqual(1);
    expect(await refusedWithin(one, jar.session)).toBe(401);
    expect(await refusedWithin(two, jar.session)).toBe(401);
    expect(await refreshStatus(two, jar)).toBe(401);
    expect(await status(one, member.session)).toBe(200);

    await guest(two);
    const text = await runCli(['sessions', 'revoke', '--guests'], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^revoked 1 guest session\(s\)\n$/);
    expect(await revokedAudit(one)).toContainEqual(
      expect.objectContaining({ actor: 'cli', data: { guest: true, count: 1 } }),
    );

    const both = await runCli(['sessions', 'revoke', '--guests', '--user', 'x'], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('only one of');
    expect(both.stderr).toContain('--guests');
  });
});
