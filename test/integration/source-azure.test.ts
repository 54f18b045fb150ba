/**
 * The Azure Key Vault key source against a fake Key Vault that speaks the real REST API over HTTPS,
 * with the real SDK (`@azure/keyvault-secrets` + `DefaultAzureCredential`) doing challenge auth and
 * fetching its token from a fake App Service managed-identity endpoint.
 *
 * How TLS is trusted: the SDK refuses bearer tokens over plain HTTP, so the fake vault uses a
 * certificate from a throwaway CA made with `openssl` in a temp dir. Node reads
 * NODE_EXTRA_CA_CERTS only at start-up and the SDK builds its own https.Agent (no global agent to
 * patch), so each load runs in a child Node process started with NODE_EXTRA_CA_CERTS=<ca.pem> —
 * certificate checks stay fully on (never NODE_TLS_REJECT_UNAUTHORIZED=0). The child runs the
 * source bundled from `src/` (see test/support/source-child.ts), not `dist/`. The SDK's challenge
 * check stays on: the fake vault answers under vault.azure.net, a name the child resolves to
 * loopback (test/support/loopback-dns.cjs).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AzureSourceConfig } from '../../src/config/key-sources.js';
import { CLOSED_PORT } from '../support/closed-port.js';
import { createTestCertificates, type FakeKeyVault, startFakeKeyVault } from '../support/fake-key-vault.js';
import {
  type ChildLoad,
  type ChildRun,
  cleanSourceBundles,
  runSourceInChild,
} from '../support/source-child.js';

const KEY_A = 'sk-azure-test-key-0a1b2c3d4e5f6071';
const KEY_B = 'sk-azure-test-key-8192a3b4c5d6e7f8';
const KEY_OLD = 'sk-azure-test-key-old-00112233445566';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!hasOpenssl)('azure key source (needs openssl: apt-get install openssl)', () => {
  let dir: string;
  let caFile: string;
  let vault: FakeKeyVault;
  let home: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-azure-'));
    home = mkdtempSync(join(tmpdir(), 'keyward-azure-home-'));
    const certs = createTestCertificates(dir);
    caFile = certs.caFile;
    vault = await startFakeKeyVault(certs);
  });

  afterAll(async () => {
    await vault?.close();
    cleanSourceBundles();
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  function config(overrides: Partial<AzureSourceConfig> = {}): AzureSourceConfig {
    return {
      vaultUrl: vault.url,
      secretName: 'openai-key',
      refreshSeconds: 300,
      timeoutSeconds: 15,
      ...overrides,
    };
  }

  /**
   * Only what an App Service instance would have: the managed identity endpoint, plus an empty
   * HOME so that no developer sign-in (Azure CLI, azd, PowerShell) can be picked up instead.
   */
  function run(
    cfg: AzureSourceConfig,
    options: { loads?: number; env?: NodeJS.ProcessEnv } = {},
  ): Promise<ChildRun> {
    return runSourceInChild({
      module: 'azure',
      factory: 'createAzureSource',
      config: cfg,
      loads: options.loads,
      env: {
        HOME: home,
        NODE_EXTRA_CA_CERTS: caFile,
        ...vault.hostEnv,
        ...vault.identityEnv,
        ...options.env,
      },
    });
  }

  function failure(load: ChildLoad | undefined): string {
    expect(load).toMatchObject({ ok: false, name: 'KeySourceError' });
    const message = load && !load.ok ? load.message : '';
    for (const leaked of [KEY_A, KEY_B, KEY_OLD, vault.token, vault.identityEnv.IDENTITY_HEADER]) {
      expect(message).not.toContain(leaked);
    }
    return message;
  }

  it('loads the latest version of a secret through challenge auth and managed identity', async () => {
    const created = 1_767_225_600;
    vault.setSecret('openai-key', KEY_A, { created });
    const res = await run(config(), { loads: 2 });
    expect(res.describe).toBe(`azure ${vault.url} openai-key`);
    expect(res.refreshMs).toBe(300_000);
    expect(res.loads).toEqual([
      { ok: true, keys: [{ id: 'azure:openai-key#1', value: KEY_A, createdAt: created * 1000 }] },
      { ok: true, keys: [{ id: 'azure:openai-key#1', value: KEY_A, createdAt: created * 1000 }] },
    ]);
    // The first request goes without a token, to obtain the challenge; later ones carry the token
    // fetched once from the managed identity endpoint for the resource the challenge named.
    const mine = vault.requests.filter((r) => r.path.startsWith('/secrets/openai-key'));
    expect(mine.map((r) => [r.status, r.token])).toEqual([
      [401, undefined],
      [200, vault.token],
      [200, vault.token],
    ]);
    expect(mine.every((r) => r.apiVersion)).toBe(true);
    expect(vault.tokenRequests).toEqual([
      { resource: 'https://vault.azure.net', apiVersion: '2019-08-01', status: 200 },
    ]);
  });

  it('splits a comma-separated secret into keys', async () => {
    vault.setSecret('multi-key', ` ${KEY_A}, ${KEY_B},,${KEY_A} `);
    const res = await run(config({ secretName: 'multi-key', refreshSeconds: 60 }));
    expect(res.refreshMs).toBe(60_000);
    expect(res.loads[0]).toMatchObject({
      ok: true,
      keys: [
        { id: 'azure:multi-key#1', value: KEY_A },
        { id: 'azure:multi-key#2', value: KEY_B },
      ],
    });
  });

  it('loads a specific version rather than the latest', async () => {
    const old = vault.setSecret('rotated-key', KEY_OLD, { created: 1_700_000_000 });
    vault.setSecret('rotated-key', KEY_B, { created: 1_760_000_000 });
    const res = await run(config({ secretName: 'rotated-key', version: old }));
    expect(res.loads[0]).toEqual({
      ok: true,
      keys: [{ id: 'azure:rotated-key#1', value: KEY_OLD, createdAt: 1_700_000_000_000 }],
    });
    const latest = await run(config({ secretName: 'rotated-key' }));
    expect(latest.loads[0]).toMatchObject({
      ok: true,
      keys: [{ value: KEY_B, createdAt: 1_760_000_000_000 }],
    });
  });

  it('reports a missing secret or version as not found', async () => {
    const res = await run(config({ secretName: 'no-such-secret' }));
    expect(failure(res.loads[0])).toMatch(/secret "no-such-secret" not found/);
    vault.setSecret('versioned', KEY_A);
    const version = await run(
      config({ secretName: 'versioned', version: 'ffffffffffffffffffffffffffffffff' }),
    );
    expect(failure(version.loads[0])).toMatch(/secret "versioned" version f+ not found/);
  });

  it('reports 403 as forbidden without quoting the service', async () => {
    vault.setSecret('locked-key', KEY_A);
    vault.forbid('locked-key');
    const res = await run(config({ secretName: 'locked-key' }));
    const message = failure(res.loads[0]);
    expect(message).toMatch(/forbidden to read secret "locked-key"/);
    expect(message).not.toContain('appid=fake');
  });

  it('reports a secret too short to be a key', async () => {
    vault.setSecret('short-key', 'abc');
    const res = await run(config({ secretName: 'short-key' }));
    expect(failure(res.loads[0])).toMatch(/shorter than/);
  });

  it('reports a managed identity that refuses to issue a token as a credential failure', async () => {
    vault.setSecret('openai-key', KEY_A);
    const res = await run(config(), { env: { IDENTITY_HEADER: 'not-the-right-header' } });
    expect(failure(res.loads[0])).toMatch(/Azure credential/);
  });

  it.each([
    ['a host outside Azure', 'https://management.azure.com', 'loopbackUrl'],
    ['a host outside Azure', 'https://vault.azure.net', 'loopbackUrl'],
    ['a host under vault.azure.net', 'https://management.azure.com', 'url'],
  ] as const)('sends no token when %s challenges for %s', async (_, resource, host) => {
    vault.setSecret('openai-key', KEY_A);
    const asked = vault.tokenRequests.length;
    const seen = vault.requests.length;
    vault.challengeFor(resource);
    let res: ChildRun;
    try {
      res = await run(config({ vaultUrl: vault[host] }));
    } finally {
      vault.challengeFor(undefined);
    }
    // No token was asked for, and the host saw only the requests that carried none.
    expect(vault.tokenRequests.slice(asked)).toEqual([]);
    const sent = vault.requests.slice(seen);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.map((r) => r.token)).toEqual(sent.map(() => undefined));
    expect(failure(res.loads[0])).toBe(
      `Azure Key Vault ${vault[host]} (provider test): the vault's 401 challenge asks for a token to a ` +
        'resource its host is not under, so none was sent; check vaultUrl names the vault itself ' +
        '(https://NAME.vault.azure.net)',
    );
  });

  it('reports a vault that is down as a connection failure', async () => {
    const port = CLOSED_PORT;
    const res = await run(config({ vaultUrl: `https://127.0.0.1:${port}` }));
    expect(failure(res.loads[0])).toMatch(/connection failed \(ECONNREFUSED\)/);
  });

  it('refuses a vault whose certificate is not trusted', async () => {
    vault.setSecret('openai-key', KEY_A);
    const res = await run(config(), { env: { NODE_EXTRA_CA_CERTS: '' } });
    expect(failure(res.loads[0])).toMatch(/connection failed \([A-Z_]+\)/);
  });
});
