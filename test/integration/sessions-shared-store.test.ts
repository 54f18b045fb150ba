import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir, runCli } from '../support/process.js';

const PROVIDER_KEY = 'sk-shared-store-provider-key-0123456789';
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

async function cookies(kw: TestGateway): Promise<{ session: string; refresh: string }> {
  const minted = await adminCall(kw.adminUrl, 'POST', '/admin/sessions', { userId: 'shared' });
  const res = await request(`${kw.dataUrl}/auth/session`, {
    method: 'POST',
    headers: { origin: APP, 'content-type': 'application/json' },
    body: JSON.stringify({ code: minted.json.code }),
  });
  await res.body.text();
  const lines = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const value = (name: string) => lines.find((l) => l.startsWith(name))!.split(';')[0]!;
  return { session: value('__Host-keyward_session'), refresh: value('__Host-keyward_refresh') };
}

async function status(kw: TestGateway, cookie: string, path = '/v1/models', method = 'GET'): Promise<number> {
  const res = await request(`${kw.dataUrl}${path}`, { method, headers: { origin: APP, cookie } });
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

describe('two instances on one store', () => {
  it('a logout on one is a 401 on the other within a second', async () => {
    const jar = await cookies(one);
    expect(await status(two, jar.session)).toBe(200);
    expect(await status(one, `${jar.session}; ${jar.refresh}`, '/auth/logout', 'POST')).toBe(204);
    expect(await refusedWithin(two, jar.session)).toBe(401);
  });

  it('an admin revocation on one is a 401 on the other within a second', async () => {
    const jar = await cookies(two);
    expect(await status(one, jar.session)).toBe(200);
    expect(await status(two, jar.session)).toBe(200);
    const id = jar.session.split('=')[1]!.split('.')[0];
    expect((await adminCall(one.adminUrl, 'DELETE', `/admin/sessions/${id}`)).status).toBe(200);
    expect(await refusedWithin(two, jar.session)).toBe(401);
  });

  it('a session refreshed on one keeps working on the other', async () => {
    const jar = await cookies(one);
    expect(await status(two, jar.session)).toBe(200);
    const res = await request(`${one.dataUrl}/auth/refresh`, {
      method: 'POST',
      headers: { origin: APP, cookie: jar.refresh },
    });
    await res.body.text();
    const next = ([] as string[]).concat(res.headers['set-cookie'] ?? [])[0]!.split(';')[0]!;
    expect(await status(two, next)).toBe(200);
  });

  it('keyward sessions list and revoke work on the same store', async () => {
    const jar = await cookies(one);
    const id = jar.session.split('=')[1]!.split('.')[0]!;
    const env = { KEYWARD_DATA_DIR: dataDir };
    const listed = await runCli(['sessions', 'list', '--user', 'shared', '--json'], { env });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).sessions.map((s: { id: string }) => s.id)).toContain(id);
    expect(listed.stdout).not.toContain(jar.session.split('.')[1]);
    const revoked = await runCli(['sessions', 'revoke', id], { env });
    expect(revoked.code).toBe(0);
    expect(await refusedWithin(one, jar.session)).toBe(401);
    const missing = await runCli(['sessions', 'revoke'], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--user');
  });
});
