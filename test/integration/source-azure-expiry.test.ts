/**
 * An Azure secret's `exp` passing between two refreshes. The pool stopped handing the key out at
 * that instant, but the client was told the provider had refused every key (503
 * provider_keys_invalid: the provider refused nothing), `/admin/keys` showed the key active with
 * no expiry, and `/ready` stayed ready until the next refresh, up to refreshSeconds later. The
 * gateway runs as a child process (the Azure SDK needs the test's host resolution and CA).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { createTestCertificates, startFakeKeyVault } from '../support/fake-key-vault.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const KEY_A = 'sk-azure-test-key-0a1b2c3d4e5f6071';
const KEY_B = 'sk-azure-test-key-8899aabbccddeeff';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

interface KeyView {
  id: string;
  state: string;
  expiresAt: string | null;
}
interface ProviderView {
  provider: string;
  lastError: string | null;
  keys: KeyView[];
}

describe.skipIf(!hasOpenssl)('an Azure key past its exp between two refreshes', () => {
  const dirs: string[] = [];
  const closers: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('is shown expired, makes the gateway degraded, and the client is not told the provider refused it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-azure-expiry-'));
    const home = mkdtempSync(join(tmpdir(), 'keyward-azure-expiry-home-'));
    dirs.push(dir, home);
    const certs = createTestCertificates(dir);
    const vault = await startFakeKeyVault(certs);
    closers.push(() => vault.close());
    const fake = await startFakeOpenAI({ keys: [KEY_A, KEY_B] });
    closers.push(() => fake.close());
    const expS = Math.floor(Date.now() / 1000) + 10;
    const expIso = new Date(expS * 1000).toISOString();
    vault.setSecret('openai-key', KEY_A, { exp: expS });
    vault.setSecret('other-key', KEY_B, { exp: expS });
    const azure = (secretName: string) => ({
      azure: { vaultUrl: vault.url, secretName, refreshSeconds: 300 },
    });
    const config = writeTempConfig({
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      server: { port: 0 },
      admin: { port: 0 },
      providers: [
        { id: 'kept', type: 'openai', baseUrl: `${fake.url}/v1`, keys: azure('openai-key') },
        { id: 'dropped', type: 'openai', baseUrl: `${fake.url}/v1`, keys: azure('other-key') },
      ],
      models: [
        { name: 'kept-model', provider: 'kept', model: 'gpt-4o-mini' },
        { name: 'dropped-model', provider: 'dropped', model: 'gpt-4o-mini' },
      ],
    });
    const kw = await startGatewayProcess(config, {
      HOME: home,
      NODE_EXTRA_CA_CERTS: certs.caFile,
      ...vault.hostEnv,
      ...vault.identityEnv,
      KEYWARD_API_KEY: CLIENT_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
    });
    closers.push(() => kw.stop());
    const client = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${kw.dataUrl}/v1`, maxRetries: 0 });
    const chat = (model: string) =>
      client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'hi' }] })
        .then(() => undefined)
        .catch((error: { status?: number; error?: { code?: string; message?: string } }) => error);
    const providers = async () =>
      (await adminCall(kw.adminUrl, 'GET', '/admin/keys')).json.providers as ProviderView[];

    expect(await chat('kept-model')).toBeUndefined();
    expect(await chat('dropped-model')).toBeUndefined();
    const before = await providers();
    expect(before.map((p) => p.keys.map(({ state, expiresAt }) => ({ state, expiresAt })))).toEqual([
      [{ state: 'active', expiresAt: expIso }],
      [{ state: 'active', expiresAt: expIso }],
    ]);

    // The source of `kept` cannot be read when its key expires: the key stays in the pool.
    await sleep(Math.max(0, expS * 1000 - Date.now() - 1500));
    vault.forbid('openai-key');
    await sleep(Math.max(0, expS * 1000 - Date.now()) + 1500);

    for (const model of ['kept-model', 'dropped-model']) {
      const error = await chat(model);
      expect(error?.status).toBe(503);
      expect(error?.error?.code).toBe('provider_unavailable');
      expect(error?.error?.message).toBe('The provider has no usable key');
    }
    expect(fake.requests.length).toBe(2);

    const [kept, dropped] = await providers();
    expect(kept?.keys.map(({ state, expiresAt }) => ({ state, expiresAt }))).toEqual([
      { state: 'expired', expiresAt: expIso },
    ]);
    expect(kept?.lastError).toMatch(/forbidden to read/);
    // Refreshed at its exp, not refreshSeconds later: the source withdraws the key, and says why.
    expect(dropped?.keys).toEqual([]);
    expect(dropped?.lastError).toContain(`expired at ${expIso}`);
    expect(kw.lines.some((line) => line.includes(`expired at ${expIso}`))).toBe(true);

    const ready = await request(`${kw.adminUrl}/ready`);
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toEqual({
      status: 'degraded',
      problems: ['provider kept: no usable key', 'provider dropped: no usable key'],
    });
  }, 60_000);
});
