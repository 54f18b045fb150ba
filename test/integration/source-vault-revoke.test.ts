import { afterEach, describe, expect, it, vi } from 'vitest';
import { vaultSourceSchema } from '../../src/config/key-sources.js';
import type { KeySource } from '../../src/keys/sources/types.js';
import { createVaultSource } from '../../src/keys/sources/vault.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault.js';
import { startTestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const TOKEN = 'hvs.CAESIJlU2Kx9tokenvalue0000000002';
const ROLE_ID = 'd1f0c9a2-7c1e-4d5e-9b0a-role00000002';
const SECRET_ID = 'b7e4a1c3-2f6d-4e8a-9c1b-secretid000002';
const KEY_A = 'sk-vault-aaaaaaaaaaaaaaaaaaaa1111';
const REVOKE = '/v1/auth/token/revoke-self';

describe('vault AppRole tokens are revoked once the gateway stops using them', () => {
  let vault: FakeVault | undefined;
  let source: KeySource | undefined;
  let warnings: string[] = [];

  afterEach(async () => {
    await source?.close?.();
    await vault?.close();
    source = undefined;
    vault = undefined;
    warnings = [];
  });

  async function startVault(role: { leaseSeconds?: number; tokenType?: 'service' | 'batch' } = {}) {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: SECRET_ID, ...role });
    vault.addToken(TOKEN);
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    return vault;
  }

  function vaultSource(auth: Record<string, unknown>) {
    const config = vaultSourceSchema.parse({ address: vault!.url, path: 'keyward/openai', auth });
    source = createVaultSource(config, {
      provider: 'openai',
      env: { VAULT_TOKEN: TOKEN, VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID },
      warn: (message) => warnings.push(message),
    });
    return source;
  }

  /** The tokens revoke-self was sent with, in order. */
  const revokedWith = (v: FakeVault) =>
    v.requests.filter((r) => r.method === 'POST' && r.path === REVOKE).map((r) => r.headers['x-vault-token']);

  /** Tokens minted by AppRole logins that Vault still takes. */
  const liveLogins = (v: FakeVault) => v.tokens().filter((t) => t !== TOKEN);

  it('revokes the token a new login replaces when its lease runs out', async () => {
    const v = await startVault({ leaseSeconds: 1 });
    const src = vaultSource({ approle: {} });
    await src.load();
    const [first] = liveLogins(v);
    await new Promise((resolve) => setTimeout(resolve, 600));
    await src.load();
    await vi.waitFor(() => expect(revokedWith(v)).toEqual([first]));
    expect(liveLogins(v)).toHaveLength(1);
    expect(liveLogins(v)).not.toContain(first);
    expect(warnings).toEqual([]);
  });

  it('revokes a cached token that a 403 replaced with a new login', async () => {
    const v = await startVault();
    const src = vaultSource({ approle: {} });
    await src.load();
    const [first] = liveLogins(v);
    v.denyPath('secret', 'keyward/openai');
    await expect(src.load()).rejects.toThrow(/permission denied/);
    await vi.waitFor(() => expect(revokedWith(v)).toEqual([first]));
    expect(liveLogins(v)).toHaveLength(1);
    expect(liveLogins(v)).not.toContain(first);
  });

  it('revokes the token in use at close', async () => {
    const v = await startVault();
    const src = vaultSource({ approle: {} });
    await src.load();
    const [issued] = liveLogins(v);
    await src.close?.();
    expect(revokedWith(v)).toEqual([issued]);
    expect(liveLogins(v)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('never revokes a static token from the environment', async () => {
    const v = await startVault();
    const src = vaultSource({ token: {} });
    await src.load();
    await src.close?.();
    expect(revokedWith(v)).toEqual([]);
    expect(v.tokens()).toContain(TOKEN);
  });

  it('does not try to revoke a batch token, which Vault cannot revoke', async () => {
    const v = await startVault({ tokenType: 'batch' });
    const src = vaultSource({ approle: {} });
    await src.load();
    await src.close?.();
    expect(revokedWith(v)).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it('a Vault that does not answer holds close about 2 s, and the failure is logged without the token', async () => {
    const v = await startVault();
    const src = vaultSource({ approle: {} });
    await src.load();
    const [issued] = liveLogins(v);
    v.hang(true);
    const started = Date.now();
    await src.close?.();
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(1_900);
    expect(took).toBeLessThan(3_500);
    expect(revokedWith(v)).toEqual([issued]);
    expect(warnings).toEqual([
      `could not revoke the vault token keyward stopped using at ${v.url} (no answer within 2000 ms); it stays valid until its TTL ends`,
    ]);
    for (const warning of warnings) {
      expect(warning).not.toContain(issued);
      expect(warning).not.toContain(SECRET_ID);
    }
  });

  it('says a revocation answered 403 may be of a token Vault already dropped', async () => {
    const v = await startVault();
    const src = vaultSource({ approle: {} });
    await src.load();
    v.revokeAllTokens();
    await src.close?.();
    expect(warnings).toEqual([
      `vault ${v.url} refused to revoke the token keyward stopped using (HTTP 403): it is already invalid, or its policy lacks "update" on auth/token/revoke-self`,
    ]);
  });

  it('logs a failed revocation by status', async () => {
    const v = await startVault();
    const src = vaultSource({ approle: {} });
    await src.load();
    v.failWith(500);
    await src.close?.();
    expect(warnings).toEqual([
      `could not revoke the vault token keyward stopped using at ${v.url} (HTTP 500); it stays valid until its TTL ends`,
    ]);
  });

  async function gatewayOn(v: FakeVault) {
    return startTestGateway(
      {
        auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
        providers: [
          {
            id: 'fake',
            type: 'openai',
            baseUrl: 'http://127.0.0.1:9/v1',
            keys: { vault: { address: v.url, path: 'keyward/openai', auth: { approle: {} } } },
          },
        ],
      },
      { KEYWARD_API_KEY: CLIENT_KEY, VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID },
    );
  }

  it('the gateway revokes its last token at shutdown', async () => {
    const v = await startVault();
    const kw = await gatewayOn(v);
    const [issued] = liveLogins(v);
    expect(issued).toBeDefined();
    await kw.close();
    expect(revokedWith(v)).toEqual([issued]);
    expect(liveLogins(v)).toEqual([]);
  });

  it('a Vault that hangs holds the gateway shutdown about 2 s; the log line names no token', async () => {
    const v = await startVault();
    const kw = await gatewayOn(v);
    const [issued] = liveLogins(v);
    v.hang(true);
    const started = Date.now();
    await kw.close(5_000);
    expect(Date.now() - started).toBeLessThan(4_000);
    const line = kw.logs.find((l) => l.includes('could not revoke the vault token'));
    expect(line).toBeDefined();
    expect(kw.logs.join('\n')).not.toContain(issued);
    expect(kw.logs.join('\n')).toContain('keyward stopped');
  });
});
