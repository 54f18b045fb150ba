import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { vaultSourceSchema } from '../../src/config/key-sources.js';
import { ProviderKeys } from '../../src/keys/provider-keys.js';
import { KeySourceError } from '../../src/keys/sources/errors.js';
import type { KeySource, SourcedKey } from '../../src/keys/sources/types.js';
import { createVaultSource } from '../../src/keys/sources/vault.js';
import { type FakeVault, startFakeVault, VAULT_INTERNAL_ERROR_DETAIL } from '../support/fake-vault.js';

const TOKEN = 'hvs.CAESIJlU2Kx9tokenvalue0000000001';
const ROLE_ID = 'd1f0c9a2-7c1e-4d5e-9b0a-role00000001';
const SECRET_ID = 'b7e4a1c3-2f6d-4e8a-9c1b-secretid000001';
const KEY_A = 'sk-vault-aaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-vault-bbbbbbbbbbbbbbbbbbbb2222';
const KEY_C = 'sk-vault-cccccccccccccccccccc3333';
const SECRETS = [TOKEN, ROLE_ID, SECRET_ID, KEY_A, KEY_B, KEY_C];

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe('vault key source', () => {
  let vault: FakeVault | undefined;
  let source: KeySource | undefined;
  const tempDirs: string[] = [];

  afterEach(async () => {
    await source?.close?.();
    await vault?.close();
    source = undefined;
    vault = undefined;
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function tokenSource(
    overrides: Record<string, unknown> = {},
    env: NodeJS.ProcessEnv = { VAULT_TOKEN: TOKEN },
  ) {
    const config = vaultSourceSchema.parse({
      address: vault!.url,
      path: 'keyward/openai',
      auth: { token: {} },
      ...overrides,
    });
    source = createVaultSource(config, { provider: 'openai', env, warn: () => {} });
    return source;
  }

  function appRoleSource(env: NodeJS.ProcessEnv = { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID }) {
    const config = vaultSourceSchema.parse({
      address: vault!.url,
      path: 'keyward/openai',
      auth: { approle: {} },
    });
    source = createVaultSource(config, { provider: 'openai', env, warn: () => {} });
    return source;
  }

  async function loadError(from: KeySource): Promise<KeySourceError> {
    const err = await from.load().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KeySourceError);
    const message = (err as KeySourceError).message;
    for (const secret of SECRETS) expect(message).not.toContain(secret);
    expect(message).not.toContain(VAULT_INTERNAL_ERROR_DETAIL);
    return err as KeySourceError;
  }

  function expectSealed(keys: SourcedKey[], values: string[]): void {
    expect(keys.map((key) => key.secret.reveal())).toEqual(values);
    for (const [i, key] of keys.entries()) {
      expect(String(key.secret)).not.toContain(values[i]);
      expect(JSON.stringify(key)).not.toContain(values[i]);
    }
  }

  it('loads a key with a token and sends it as X-Vault-Token', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret(
      'secret',
      'keyward/openai',
      { api_key: KEY_A },
      { createdTime: '2024-05-01T10:20:30.5Z' },
    );
    const src = tokenSource({ refreshSeconds: 60 });
    expect(src.kind).toBe('vault');
    expect(src.refreshMs).toBe(60_000);
    expect(src.describe).toBe(`vault ${vault.url} secret/keyward/openai#api_key`);

    const keys = await src.load();
    expect(keys.map(({ id, createdAt }) => ({ id, createdAt }))).toEqual([
      { id: 'vault:secret/keyward/openai#1', createdAt: Date.parse('2024-05-01T10:20:30.5Z') },
    ]);
    expectSealed(keys, [KEY_A]);
    expect(vault.requests).toHaveLength(1);
    expect(vault.requests[0]).toMatchObject({ method: 'GET', path: '/v1/secret/data/keyward/openai' });
    expect(vault.requests[0]!.headers['x-vault-token']).toBe(TOKEN);
    expect(vault.requests[0]!.headers['x-vault-namespace']).toBeUndefined();
  });

  it('splits comma-separated keys and picks up a rotated value on the next load', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: ` ${KEY_A}, ${KEY_B},,${KEY_A} ` });
    const src = tokenSource();
    const keys = await src.load();
    expect(keys.map((key) => key.id)).toEqual([
      'vault:secret/keyward/openai#1',
      'vault:secret/keyward/openai#2',
    ]);
    expectSealed(keys, [KEY_A, KEY_B]);

    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_C });
    expectSealed(await src.load(), [KEY_C]);
  });

  it('reads the configured field, mount and token variable', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('kv/prod', 'ai/keys', { openai: KEY_B, anthropic: KEY_C });
    const src = tokenSource(
      { mount: 'kv/prod', path: 'ai/keys', field: 'openai', auth: { token: { env: 'MY_VAULT_TOKEN' } } },
      { MY_VAULT_TOKEN: TOKEN },
    );
    const keys = await src.load();
    expect(keys[0]!.id).toBe('vault:kv/prod/ai/keys#1');
    expectSealed(keys, [KEY_B]);
    expect(vault.requests[0]!.path).toBe('/v1/kv/prod/data/ai/keys');
  });

  it('sends X-Vault-Namespace and fails with permission denied in the wrong namespace', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN, { namespace: 'team-a' });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A }, { namespace: 'team-a' });
    expectSealed(await tokenSource({ namespace: 'team-a' }).load(), [KEY_A]);
    expect(vault.requests[0]!.headers['x-vault-namespace']).toBe('team-a');
    await source?.close?.();

    const err = await loadError(tokenSource());
    expect(err.message).toMatch(/permission denied/);
  });

  it('logs in with AppRole once, reuses the token and logs in again after it is revoked', async () => {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: SECRET_ID });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    const src = appRoleSource();

    expectSealed(await src.load(), [KEY_A]);
    expectSealed(await src.load(), [KEY_A]);
    const logins = () => vault!.requests.filter((r) => r.path === '/v1/auth/approle/login');
    expect(logins()).toHaveLength(1);
    expect(JSON.parse(logins()[0]!.body)).toEqual({ role_id: ROLE_ID, secret_id: SECRET_ID });
    const [issued] = vault.tokens();
    expect(vault.requests.at(-1)!.headers['x-vault-token']).toBe(issued);

    vault.revokeAllTokens();
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_B });
    expectSealed(await src.load(), [KEY_B]);
    expect(logins()).toHaveLength(2);
    // The refused token's revocation (source-vault-revoke.test.ts) is left out.
    const paths = vault.requests.map((r) => r.path).filter((p) => p !== '/v1/auth/token/revoke-self');
    expect(paths.slice(-3)).toEqual([
      '/v1/secret/data/keyward/openai',
      '/v1/auth/approle/login',
      '/v1/secret/data/keyward/openai',
    ]);
    expect(vault.requests.at(-1)!.headers['x-vault-token']).not.toBe(issued);
  });

  it('logs in again when the AppRole token lease runs out', async () => {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: SECRET_ID, leaseSeconds: 1 });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    const src = appRoleSource();
    await src.load();
    await new Promise((resolve) => setTimeout(resolve, 600));
    await src.load();
    // The replaced token's revocation (source-vault-revoke.test.ts) is left out.
    const paths = vault.requests.map((r) => r.path).filter((p) => p !== '/v1/auth/token/revoke-self');
    expect(paths.filter((p) => p === '/v1/auth/approle/login')).toHaveLength(2);
    // The second login happened before the read, not after a 403.
    expect(paths).toHaveLength(4);
  });

  it('does not log in again when a token just minted is denied by policy', async () => {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: SECRET_ID });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    vault.denyPath('secret', 'keyward/openai');
    const err = await loadError(appRoleSource());
    expect(err.message).toBe('vault permission denied reading secret/keyward/openai (HTTP 403)');
    for (const token of vault.tokens()) expect(err.message).not.toContain(token);
    expect(vault.requests.map((r) => r.path)).toEqual([
      '/v1/auth/approle/login',
      '/v1/secret/data/keyward/openai',
    ]);
  });

  it('reports a rejected AppRole login without the role or secret id', async () => {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: 'another-secret-id-0000' });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    const err = await loadError(appRoleSource());
    expect(err.message).toMatch(/AppRole login.*(rejected|permission denied)/);
    expect(err.message).toContain('HTTP 400');
  });

  it('reports a missing secret', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    const err = await loadError(tokenSource());
    expect(err.message).toMatch(/secret\/keyward\/openai not found/);
    expect(err.message).toContain('404');
  });

  it('reports permission denied for a revoked token', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    const src = tokenSource();
    await src.load();
    vault.revokeToken(TOKEN);
    const err = await loadError(src);
    expect(err.message).toMatch(/permission denied/);
    expect(err.message).toContain('403');
  });

  it('reports a missing field without the other fields values', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { openai: KEY_A, other: KEY_B });
    const err = await loadError(tokenSource());
    expect(err.message).toBe('field "api_key" not found in vault secret secret/keyward/openai');
  });

  it('reports a server error by status, not by its body', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    vault.failWith(500);
    const err = await loadError(tokenSource());
    expect(err.message).toContain('HTTP 500');
    expect(err.message).toContain('secret/keyward/openai');
  });

  it('stops reading an answer past 1 MiB: the load fails, the keys loaded last stay, the next load reads again', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    const keys = new ProviderKeys({
      provider: 'openai',
      source: tokenSource(),
      rotationDays: 90,
      events: { loaded() {}, refreshFailed() {}, alert() {}, warn() {} },
    });
    await keys.loadOrThrow();

    // Still a valid KV answer holding the key, only 8 MiB long: read whole, gigabytes aborted the process.
    vault.padAnswers(8 * 1024 * 1024);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_B });
    expect(await keys.refresh()).toBe(false);
    expect(keys.lastError).toBe(
      `vault ${vault.url} (reading secret/keyward/openai) answered more than 1048576 bytes (HTTP 200)`,
    );
    await vi.waitFor(() => expect(vault?.cutShort()).toBe(1));
    expect(keys.pool.list().map((key) => key.secret.reveal())).toEqual([KEY_A]);

    vault.padAnswers(undefined);
    expect(await keys.refresh()).toBe(true);
    expect(keys.lastError).toBeUndefined();
    expect(keys.pool.list().map((key) => key.secret.reveal())).toEqual([KEY_B]);
    await keys.close();
  });

  it('stops reading an AppRole login answer past 1 MiB', async () => {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: SECRET_ID });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    vault.padAnswers(8 * 1024 * 1024);
    const src = appRoleSource();
    expect((await loadError(src)).message).toBe(
      `vault ${vault.url} (AppRole login at auth/approle) answered more than 1048576 bytes (HTTP 200)`,
    );
    await vi.waitFor(() => expect(vault?.cutShort()).toBe(1));
    vault.padAnswers(undefined);
    expectSealed(await src.load(), [KEY_A]);
  });

  it('reports a Vault that is down', async () => {
    vault = await startFakeVault();
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    const src = tokenSource();
    await src.load();
    await vault.stop();
    const err = await loadError(src);
    expect(err.message).toMatch(/connection failed/);
    expect(err.message).toContain(vault.url);
  });

  it('reports a missing token variable and an unreadable CA file', async () => {
    vault = await startFakeVault();
    expect((await loadError(tokenSource({}, {}))).message).toBe(
      'environment variable VAULT_TOKEN is empty or not set',
    );
    await source?.close?.();
    const err = await loadError(tokenSource({ caFile: '/nonexistent/vault-ca.pem' }));
    expect(err.message).toMatch(/cannot read vault CA file \/nonexistent\/vault-ca.pem/);
  });

  it.skipIf(!hasOpenssl)('trusts a private CA given as caFile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyward-vault-tls-'));
    tempDirs.push(dir);
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1'])
        .concat(['-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'ignore' },
    );
    vault = await startFakeVault({
      tls: { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    });
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });

    const untrusted = await loadError(tokenSource());
    expect(untrusted.message).toMatch(/connection failed/);
    await source?.close?.();
    expectSealed(await tokenSource({ caFile: join(dir, 'cert.pem') }).load(), [KEY_A]);
  });
});
