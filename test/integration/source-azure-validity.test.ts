/**
 * An Azure Key Vault secret's own window of use: `enabled`, `exp` and `nbf`. Key Vault answers a
 * GET of a secret past its `exp` or before its `nbf` with the value (its docs: for tests and
 * recovery) and a disabled one with 403 SecretDisabled; the operator set those for the key not to
 * be used. The source runs in a child process with the real SDK (see source-azure.test.ts for why),
 * and ProviderKeys shows what becomes of the keys loaded before.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AzureSourceConfig } from '../../src/config/key-sources.js';
import { ProviderKeys } from '../../src/keys/provider-keys.js';
import { SecretString } from '../../src/keys/secret-string.js';
import { KeySourceError } from '../../src/keys/sources/errors.js';
import type { KeySource, SourcedKey } from '../../src/keys/sources/types.js';
import { createTestCertificates, type FakeKeyVault, startFakeKeyVault } from '../support/fake-key-vault.js';
import { type ChildLoad, cleanSourceBundles, runSourceInChild } from '../support/source-child.js';

const KEY_A = 'sk-azure-test-key-0a1b2c3d4e5f6071';
const HOUR_S = 3600;
const nowS = () => Math.floor(Date.now() / 1000);

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!hasOpenssl)('azure secret validity: enabled, exp, nbf', () => {
  let dir: string;
  let home: string;
  let caFile: string;
  let vault: FakeKeyVault;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyward-azure-validity-'));
    home = mkdtempSync(join(tmpdir(), 'keyward-azure-validity-home-'));
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

  async function load(secretName: string): Promise<ChildLoad> {
    const config: AzureSourceConfig = {
      vaultUrl: vault.url,
      secretName,
      refreshSeconds: 300,
      timeoutSeconds: 15,
    };
    const run = await runSourceInChild({
      module: 'azure',
      factory: 'createAzureSource',
      config,
      env: { HOME: home, NODE_EXTRA_CA_CERTS: caFile, ...vault.hostEnv, ...vault.identityEnv },
    });
    const [first] = run.loads;
    if (first && !first.ok) expect(first.message).not.toContain(KEY_A);
    return first!;
  }

  it('refuses a secret past its exp, naming the secret and the date, never the value', async () => {
    const exp = nowS() - HOUR_S;
    vault.setSecret('expired-key', KEY_A, { exp });
    expect(await load('expired-key')).toEqual({
      ok: false,
      name: 'KeySourceError',
      message: `Azure Key Vault secret expired-key in ${vault.url} expired at ${new Date(exp * 1000).toISOString()} (its "exp"); its keys are not used`,
      withdrawn: true,
    });
  });

  it('refuses a secret before its nbf', async () => {
    const nbf = nowS() + HOUR_S;
    vault.setSecret('future-key', KEY_A, { nbf });
    expect(await load('future-key')).toEqual({
      ok: false,
      name: 'KeySourceError',
      message: `Azure Key Vault secret future-key in ${vault.url} is not valid before ${new Date(nbf * 1000).toISOString()} (its "nbf"); its keys are not used until then`,
      withdrawn: true,
    });
  });

  it('says a disabled secret is disabled, not that the identity lacks permission', async () => {
    vault.setSecret('disabled-key', KEY_A, { enabled: false });
    expect(await load('disabled-key')).toEqual({
      ok: false,
      name: 'KeySourceError',
      message: `Azure Key Vault ${vault.url} (provider test): secret "disabled-key" is disabled; its keys are not used`,
      withdrawn: true,
    });
  });

  it('loads a secret inside its window and gives its keys the expiry', async () => {
    const exp = nowS() + HOUR_S;
    vault.setSecret('valid-key', KEY_A, { nbf: nowS() - HOUR_S, exp });
    expect(await load('valid-key')).toMatchObject({
      ok: true,
      keys: [{ id: 'azure:valid-key#1', value: KEY_A, expiresAt: exp * 1000 }],
    });
  });
});

describe('keys a source withdraws', () => {
  function keysFrom(source: KeySource) {
    const failures: { message: string; kept: boolean }[] = [];
    const keys = new ProviderKeys({
      provider: 'openai',
      source,
      rotationDays: 90,
      events: {
        loaded() {},
        refreshFailed: (_provider, _kind, message, kept) => failures.push({ message, kept }),
        alert() {},
        warn() {},
      },
    });
    return { keys, failures };
  }

  const key = (expiresAt?: number): SourcedKey => ({
    id: 'azure:openai-key#1',
    secret: new SecretString(KEY_A),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  });

  it('drops the keys loaded before when the source withdraws them, where a failed read keeps them', async () => {
    let next: () => SourcedKey[] = () => [key()];
    const { keys, failures } = keysFrom({ kind: 'azure', describe: 'azure test', load: async () => next() });
    await keys.loadOrThrow();

    next = () => {
      throw new KeySourceError('vault unreachable');
    };
    expect(await keys.refresh()).toBe(false);
    expect(keys.pool.size).toBe(1);

    next = () => {
      throw new KeySourceError('secret expired', { withdrawn: true });
    };
    expect(await keys.refresh()).toBe(false);
    expect(keys.pool.size).toBe(0);
    expect(keys.acquire()).toEqual({ exhausted: 'empty' });
    expect(keys.lastError).toBe('secret expired');

    // Later failures no longer speak of keys kept in use.
    next = () => {
      throw new KeySourceError('vault unreachable');
    };
    await keys.refresh();
    expect(failures).toEqual([
      { message: 'vault unreachable', kept: true },
      { message: 'secret expired', kept: false },
      { message: 'vault unreachable', kept: false },
    ]);
  });

  it('does not hand out a key past its expiry, even before the next refresh drops it', async () => {
    const expiresAt = Date.now() + 60_000;
    const { keys } = keysFrom({ kind: 'azure', describe: 'azure test', load: async () => [key(expiresAt)] });
    await keys.loadOrThrow();
    expect(keys.acquire(expiresAt - 1).key?.id).toBe('azure:openai-key#1');
    expect(keys.acquire(expiresAt).key).toBeUndefined();
  });
});
