import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { fingerprintOf, readMasterKeyFile, seal } from '../../src/keys/index.js';
import { openSqliteStore } from '../../src/store/index.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { type FakeVault, startFakeVault, VAULT_INTERNAL_ERROR_DETAIL } from '../support/fake-vault.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { freshDataDir } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY_A = 'sk-source-key-aaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-source-key-bbbbbbbbbbbbbbbbbbbb2222';
const VAULT_TOKEN = 'hvs.test-vault-token-0123456789abcdef';
const ADMIN_KEY = 'kwa-test-admin-key-0123456789abcdef';

type Fake = Awaited<ReturnType<typeof startFakeOpenAI>>;
let fake: Fake;
let vault: FakeVault | undefined;
let kw: TestGateway;
afterEach(async () => {
  await kw?.close();
  await fake?.close();
  await vault?.close();
  vault = undefined;
});

async function gateway(keys: unknown, env: NodeJS.ProcessEnv = {}, dataDir = freshDataDir()) {
  kw = await startTestGateway(
    {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      providers: [
        {
          id: 'fake',
          type: 'openai',
          baseUrl: `${fake.url}/v1`,
          keys: keys as { store: true },
          retries: { maxAttempts: 1 },
        },
      ],
      models: [{ name: 'fast', provider: 'fake', model: 'gpt-4o-mini' }],
    },
    { KEYWARD_API_KEY: CLIENT_KEY, KEYWARD_ADMIN_KEY: ADMIN_KEY, ...env },
    dataDir,
  );
}

async function chat() {
  const res = await request(`${kw.dataUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${CLIENT_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fast', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.statusCode, json: (await res.body.json()) as { error?: { code: string } } };
}

async function refresh() {
  const res = await request(`${kw.adminUrl}/admin/keys/refresh`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: '{}',
  });
  return (await res.body.json()) as { refreshed: Array<{ provider: string; ok: boolean }> };
}

const lastKey = () => String(fake.requests.at(-1)?.headers.authorization).slice('Bearer '.length);

describe('an external source behind a provider (Vault)', () => {
  it('follows changes on refresh, keeps the last good keys when the source fails, and counts the failure', async () => {
    fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B] });
    vault = await startFakeVault();
    vault.addToken(VAULT_TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    await gateway(
      { vault: { address: vault.url, path: 'keyward/openai', auth: { token: { env: 'VAULT_TOKEN' } } } },
      { VAULT_TOKEN },
    );
    expect((await chat()).status).toBe(200);
    expect(lastKey()).toBe(KEY_A);

    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_B });
    expect((await refresh()).refreshed).toEqual([{ provider: 'fake', ok: true }]);
    expect((await chat()).status).toBe(200);
    expect(lastKey()).toBe(KEY_B);

    vault.failWith(500);
    expect((await refresh()).refreshed).toEqual([{ provider: 'fake', ok: false }]);
    expect((await chat()).status).toBe(200);
    expect(lastKey()).toBe(KEY_B);
    const metrics = await kw.gateway.metrics.render();
    expect(metrics).toContain('keyward_key_source_refresh_failures_total{provider="fake",source="vault"} 1');
    const failure = kw.logs.find((line) => line.includes('loading provider keys failed'));
    expect(failure).toBeDefined();
    expect(failure).not.toContain(VAULT_TOKEN);
    expect(failure).not.toContain(VAULT_INTERNAL_ERROR_DETAIL);
  });

  it('starts with the source down, answers 503 until a refresh succeeds', async () => {
    fake = await startFakeOpenAI({ keys: [KEY_A] });
    vault = await startFakeVault();
    vault.addToken(VAULT_TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    vault.failWith(503);
    await gateway(
      { vault: { address: vault.url, path: 'keyward/openai', auth: { token: { env: 'VAULT_TOKEN' } } } },
      { VAULT_TOKEN },
    );
    const down = await chat();
    expect(down.status).toBe(503);
    expect(down.json.error?.code).toBe('provider_unavailable');
    expect(fake.requests).toHaveLength(0);
    // The instance stays in rotation (other providers may work); the admin listener says which is keyless.
    const adminReady = await request(`${kw.adminUrl}/ready`);
    expect(adminReady.statusCode).toBe(200);
    expect(await adminReady.body.json()).toEqual({
      status: 'degraded',
      problems: ['provider fake: no usable key'],
    });
    const dataReady = await request(`${kw.dataUrl}/ready`);
    expect(await dataReady.body.json()).toEqual({ status: 'degraded' });

    vault.failWith(undefined);
    expect((await refresh()).refreshed[0]?.ok).toBe(true);
    expect((await chat()).status).toBe(200);
    expect(await (await request(`${kw.adminUrl}/ready`)).body.json()).toEqual({ status: 'ready' });
  });
});

describe('stored keys: weights and age', () => {
  it('splits traffic by weight and alerts on keys older than rotationDays', async () => {
    fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B] });
    const dataDir = freshDataDir();
    const { master } = readMasterKeyFile(join(dataDir, 'master.key'), true);
    const store = openSqliteStore(join(dataDir, 'keyward.db'));
    const day = 86_400_000;
    const record = (id: string, value: string, weight: number, createdAt: number) => ({
      id,
      provider: 'fake',
      ciphertext: seal(master, value, { provider: 'fake', keyId: id }),
      fingerprint: fingerprintOf(value),
      status: 'active' as const,
      weight,
      createdAt,
      updatedAt: createdAt,
    });
    await store.providerKeys.insert(record('pk_old', KEY_A, 3, Date.now() - 100 * day));
    await store.providerKeys.insert(record('pk_new', KEY_B, 1, Date.now() - day));
    await store.close();

    await gateway({ store: true }, {}, dataDir);
    for (let i = 0; i < 8; i++) expect((await chat()).status).toBe(200);
    const used = fake.requests.map((r) => String(r.headers.authorization).slice('Bearer '.length));
    expect(used.filter((k) => k === KEY_A)).toHaveLength(6);
    expect(used.filter((k) => k === KEY_B)).toHaveLength(2);

    const alert = kw.logs.find((line) => line.includes('"alert":"key_too_old"'));
    expect(alert).toContain('pk_old');
    expect(alert).toContain('100 days old');
    expect(kw.logs.filter((line) => line.includes('key_too_old'))).toHaveLength(1);
    const metrics = await kw.gateway.metrics.render();
    expect(metrics).toContain('keyward_provider_key_alerts_total{provider="fake",reason="key_too_old"} 1');
    const age = /keyward_provider_key_age_seconds\{provider="fake",key="pk_old"\} (\d+)/.exec(metrics);
    expect(Number(age?.[1])).toBeGreaterThan(99 * 86_400);
  });
});
