/**
 * An Azure Key Vault, or its managed identity endpoint, that takes the connection and never
 * answers, against a real `keyward start` process: the load's deadline ends the start and every
 * refresh, the gateway serves with the keys it has, and the next load reads again.
 *
 * The gateway trusts the fake vault's throwaway CA through NODE_EXTRA_CA_CERTS, as in
 * source-azure.test.ts (the SDK sends its token over HTTPS only); certificate checks stay on, and so
 * does the SDK's challenge check: the fake answers under vault.azure.net, resolved to loopback.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestCertificates, type FakeKeyVault, startFakeKeyVault } from '../support/fake-key-vault.js';
import { startFakeOpenAI } from '../support/fake-openai.js';
import { adminGet, chat, lineWith } from '../support/gateway-calls.js';
import { type RunningGateway, startGatewayProcess, writeTempConfig } from '../support/process.js';
import { CLIENT_KEY } from '../support/setup.js';

const ADMIN_KEY = 'kwa-azure-faults-admin-key-0123456789ab';
const AZURE_KEY = 'sk-azure-faults-key-aaaaaaaaaaaa1111';
const OTHER_AZURE_KEY = 'sk-azure-faults-key-cccccccccccc3333';
const ENV_KEY = 'sk-env-faults-key-bbbbbbbbbbbb2222';
/** Far under the default 15 s, and long enough for a load that answers on a busy machine. */
const DEADLINE_SECONDS = 2;
/** A start or refresh held past its deadline would take this long at least. */
const WITHIN_MS = 10_000;

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Whether the gateway closes every request the fake left unanswered, as an aborted read does. */
async function released(vault: FakeKeyVault): Promise<boolean> {
  for (let waited = 0; waited < 2_000; waited += 50) {
    const { vault: reads, token } = vault.held();
    if (reads === 0 && token === 0) return true;
    await sleep(50);
  }
  return false;
}

/** `POST /admin/keys/refresh`'s results, and how long it took to answer. */
async function refresh(gw: RunningGateway): Promise<{ ms: number; refreshed: unknown[] }> {
  const started = Date.now();
  const res = await request(`${gw.adminUrl}/admin/keys/refresh`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const { refreshed } = (await res.body.json()) as { refreshed: unknown[] };
  return { ms: Date.now() - started, refreshed };
}

async function azureState(
  gw: RunningGateway,
): Promise<{ loadedAt: string | null; lastError: string | null }> {
  const { providers } = (await adminGet(gw, ADMIN_KEY, '/admin/keys')) as {
    providers: Array<{ provider: string; loadedAt: string | null; lastError: string | null }>;
  };
  const entry = providers.find((p) => p.provider === 'azure');
  if (!entry) throw new Error('no azure provider in GET /admin/keys');
  return entry;
}

describe.skipIf(!hasOpenssl)(
  'an Azure Key Vault that takes the connection and never answers (needs openssl: apt-get install openssl)',
  { timeout: 90_000 },
  () => {
    let dir: string;
    let home: string;
    let caFile: string;
    let vault: FakeKeyVault;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'keyward-azure-faults-'));
      home = mkdtempSync(join(tmpdir(), 'keyward-azure-faults-home-'));
      const certs = createTestCertificates(dir);
      caFile = certs.caFile;
      // Short enough that msal-node's process-wide token cache never serves it: a new client asks
      // the managed identity endpoint, as one does when the cached token nears its expiry.
      vault = await startFakeKeyVault(certs, { tokenLifetimeSeconds: 200 });
    });

    afterAll(async () => {
      await vault?.close();
      rmSync(dir, { recursive: true, force: true });
      rmSync(home, { recursive: true, force: true });
    });

    afterEach(() => {
      vault.hang(false);
      vault.hangTokens(false);
      vault.challengeFor(undefined);
    });

    /** A gateway with provider `azure` (alias `z`) on the fake vault and `env` (alias `e`). */
    async function gateway(upstream: string, secretName: string): Promise<RunningGateway> {
      const file = writeTempConfig({
        server: { port: 0 },
        admin: { port: 0 },
        logging: { level: 'debug', format: 'json' },
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'azure',
            type: 'openai',
            baseUrl: `${upstream}/v1`,
            retries: { maxAttempts: 1 },
            keys: { azure: { vaultUrl: vault.url, secretName, timeoutSeconds: DEADLINE_SECONDS } },
          },
          { id: 'env', type: 'openai', baseUrl: `${upstream}/v1`, keys: { env: 'ENV_KEY' } },
        ],
        models: [
          { name: 'z', provider: 'azure', model: 'gpt-4o-mini' },
          { name: 'e', provider: 'env', model: 'gpt-4o-mini' },
        ],
      });
      // Only what an App Service instance would have: the managed identity endpoint, and an empty
      // HOME so that no developer sign-in (Azure CLI, azd, PowerShell) is tried instead.
      const gw = await startGatewayProcess(file, {
        KEYWARD_API_KEY: CLIENT_KEY,
        KEYWARD_ADMIN_KEY: ADMIN_KEY,
        ENV_KEY,
        HOME: home,
        NODE_EXTRA_CA_CERTS: caFile,
        ...vault.hostEnv,
        ...vault.identityEnv,
      });
      cleanups.push(async () => {
        gw.child.kill('SIGKILL');
        await gw.exited;
      });
      return gw;
    }

    async function upstream() {
      const fake = await startFakeOpenAI({ keys: [AZURE_KEY, OTHER_AZURE_KEY, ENV_KEY] });
      cleanups.push(() => fake.close());
      return fake;
    }

    it('holds neither the start nor, after its deadline, any later refresh', async () => {
      const openai = await upstream();
      vault.setSecret('hung-vault-key', AZURE_KEY);
      vault.hang(true);

      const started = Date.now();
      const gw = await gateway(openai.url, 'hung-vault-key');
      expect(Date.now() - started).toBeLessThan(WITHIN_MS);
      expect(vault.requests.some((r) => r.path.startsWith('/secrets/hung-vault-key') && r.status === 0)).toBe(
        true,
      );
      expect(await released(vault)).toBe(true);
      expect(await chat(gw, 'z')).toBe(503);
      expect(await chat(gw, 'e')).toBe(200);
      expect(await adminGet(gw, ADMIN_KEY, '/ready')).toEqual({
        status: 'degraded',
        problems: ['provider azure: no usable key'],
      });
      expect(await azureState(gw)).toMatchObject({
        loadedAt: null,
        lastError: `azure ${vault.url} hung-vault-key did not answer within ${DEADLINE_SECONDS} s`,
      });
      expect(await lineWith(gw, `did not answer within ${DEADLINE_SECONDS} s`)).toContain(
        'the provider has no key and answers 503',
      );

      vault.hang(false);
      expect((await refresh(gw)).refreshed).toContainEqual({ provider: 'azure', ok: true });
      expect(await chat(gw, 'z')).toBe(200);
      expect(String(openai.requests.at(-1)?.headers.authorization)).toBe(`Bearer ${AZURE_KEY}`);

      // A hung refresh fails at its deadline, is the last error, and the old key serves on.
      vault.hang(true);
      const hung = await refresh(gw);
      expect(hung.refreshed).toContainEqual({ provider: 'azure', ok: false });
      expect(hung.ms).toBeLessThan(WITHIN_MS);
      expect(await released(vault)).toBe(true);
      expect((await azureState(gw)).lastError).toBe(
        `azure ${vault.url} hung-vault-key did not answer within ${DEADLINE_SECONDS} s`,
      );
      expect(await chat(gw, 'z')).toBe(200);

      // Once the vault answers, the next refresh reads the new key.
      vault.hang(false);
      vault.setSecret('hung-vault-key', OTHER_AZURE_KEY);
      const after = await refresh(gw);
      expect(after.refreshed).toContainEqual({ provider: 'azure', ok: true });
      expect(after.ms).toBeLessThan(WITHIN_MS);
      expect((await azureState(gw)).lastError).toBeNull();
      expect(await chat(gw, 'z')).toBe(200);
      expect(String(openai.requests.at(-1)?.headers.authorization)).toBe(`Bearer ${OTHER_AZURE_KEY}`);
      const metrics = await request(`${gw.adminUrl}/metrics`, {
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
      });
      expect(await metrics.body.text()).toContain(
        'keyward_key_source_refresh_failures_total{provider="azure",source="azure"} 2',
      );
    });

    it('holds neither the start nor a refresh while the managed identity endpoint never answers', async () => {
      const openai = await upstream();
      vault.setSecret('hung-token-key', AZURE_KEY);
      vault.hangTokens(true);
      const asked = vault.tokenRequests.length;

      const started = Date.now();
      const gw = await gateway(openai.url, 'hung-token-key');
      expect(Date.now() - started).toBeLessThan(WITHIN_MS);
      expect(vault.tokenRequests.slice(asked).some((r) => r.status === 0)).toBe(true);
      expect(await released(vault)).toBe(true);
      expect(await chat(gw, 'z')).toBe(503);
      expect((await azureState(gw)).lastError).toBe(
        `azure ${vault.url} hung-token-key did not answer within ${DEADLINE_SECONDS} s`,
      );

      vault.hangTokens(false);
      const answered = await refresh(gw);
      expect(answered.refreshed).toContainEqual({ provider: 'azure', ok: true });
      expect(answered.ms).toBeLessThan(WITHIN_MS);
      expect(await chat(gw, 'z')).toBe(200);

      // A load past its deadline drops the client, token and all: the next one asks for a token
      // again, and while that request hangs the refresh still ends at its deadline.
      vault.hang(true);
      expect((await refresh(gw)).refreshed).toContainEqual({ provider: 'azure', ok: false });
      vault.hang(false);
      vault.hangTokens(true);
      const hung = await refresh(gw);
      expect(hung.refreshed).toContainEqual({ provider: 'azure', ok: false });
      expect(hung.ms).toBeLessThan(WITHIN_MS);
      expect(await released(vault)).toBe(true);
      expect(await chat(gw, 'z')).toBe(200);

      vault.hangTokens(false);
      vault.setSecret('hung-token-key', OTHER_AZURE_KEY);
      expect((await refresh(gw)).refreshed).toContainEqual({ provider: 'azure', ok: true });
      expect(await chat(gw, 'z')).toBe(200);
      expect(String(openai.requests.at(-1)?.headers.authorization)).toBe(`Bearer ${OTHER_AZURE_KEY}`);
    });

    it('sends no token when the vault challenges for another resource, and serves on with the keys it has', async () => {
      const openai = await upstream();
      vault.setSecret('rechallenged-key', AZURE_KEY);
      const gw = await gateway(openai.url, 'rechallenged-key');
      expect(await chat(gw, 'z')).toBe(200);

      // Hijacked DNS or a proxy in front of the vault, asking for an Azure Resource Manager token.
      const asked = vault.tokenRequests.length;
      vault.challengeFor('https://management.azure.com');
      expect((await refresh(gw)).refreshed).toContainEqual({ provider: 'azure', ok: false });
      expect(vault.tokenRequests.slice(asked)).toEqual([]);
      expect((await azureState(gw)).lastError).toBe(
        `Azure Key Vault ${vault.url} (provider azure): the vault's 401 challenge asks for a token to a ` +
          'resource its host is not under, so none was sent; check vaultUrl names the vault itself ' +
          '(https://NAME.vault.azure.net)',
      );
      expect(await chat(gw, 'z')).toBe(200);
      expect(String(openai.requests.at(-1)?.headers.authorization)).toBe(`Bearer ${AZURE_KEY}`);

      // The next refresh reads again once the vault answers as itself.
      vault.challengeFor(undefined);
      vault.setSecret('rechallenged-key', OTHER_AZURE_KEY);
      expect((await refresh(gw)).refreshed).toContainEqual({ provider: 'azure', ok: true });
      expect((await azureState(gw)).lastError).toBeNull();
      expect(await chat(gw, 'z')).toBe(200);
      expect(String(openai.requests.at(-1)?.headers.authorization)).toBe(`Bearer ${OTHER_AZURE_KEY}`);
    });
  },
);
