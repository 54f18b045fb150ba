/**
 * A closed vault source leaves no AppRole token valid at Vault. close() revokes the token in use;
 * a read then in flight met a 403 on it, took it for a stale token and logged in again, and a login
 * then in flight cached its token afterwards: each stayed valid until its TTL, at shutdown or once
 * a SIGHUP replaced the source. A slow Vault is a proxy that holds one request.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { vaultSourceSchema } from '../../src/config/key-sources.js';
import { configSchema } from '../../src/config/schema.js';
import type { KeySource } from '../../src/keys/sources/types.js';
import { createVaultSource } from '../../src/keys/sources/vault.js';
import { ADMIN_KEY, adminCall } from '../support/admin.js';
import { type FakeVault, startFakeVault } from '../support/fake-vault.js';
import { startTestGateway, type TestGateway } from '../support/gateway.js';
import { CLIENT_KEY } from '../support/setup.js';

const ROLE_ID = 'd1f0c9a2-7c1e-4d5e-9b0a-role00000003';
const SECRET_ID = 'b7e4a1c3-2f6d-4e8a-9c1b-secretid000003';
const KEY_A = 'sk-vault-aaaaaaaaaaaaaaaaaaaa1111';
const KEY_B = 'sk-vault-bbbbbbbbbbbbbbbbbbbb2222';
const LOGIN = '/v1/auth/approle/login';
const REVOKE = '/v1/auth/token/revoke-self';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface SlowProxy {
  url: string;
  /** The next request `matches` takes is held `ms` before it goes on to Vault. */
  holdNext(matches: (method: string, path: string) => boolean, ms: number): void;
  close(): Promise<void>;
}

async function slowProxy(target: string): Promise<SlowProxy> {
  let held: { matches: (method: string, path: string) => boolean; ms: number } | undefined;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const hold = held;
      if (hold?.matches(req.method ?? '', req.url ?? '')) {
        held = undefined;
        await sleep(hold.ms);
      }
      const url = new URL(req.url ?? '/', target);
      const out = httpRequest(
        url,
        { method: req.method, headers: { ...req.headers, host: url.host } },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    holdNext(matches, ms) {
      held = { matches, ms };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const isRead = (method: string, path: string) => method === 'GET' && path.includes('/data/');
const isLogin = (method: string, path: string) => method === 'POST' && path === LOGIN;

describe('a closed vault source leaves no AppRole token valid', () => {
  let vault: FakeVault | undefined;
  let proxy: SlowProxy | undefined;
  let source: KeySource | undefined;
  let kw: TestGateway | undefined;

  afterEach(async () => {
    await kw?.close();
    await source?.close?.();
    await proxy?.close();
    await vault?.close();
    kw = undefined;
    source = undefined;
    proxy = undefined;
    vault = undefined;
  });

  async function start(): Promise<{ v: FakeVault; p: SlowProxy }> {
    vault = await startFakeVault();
    vault.enableAppRole('approle', { roleId: ROLE_ID, secretId: SECRET_ID });
    vault.setSecret('secret', 'keyward/openai', { api_key: KEY_A });
    proxy = await slowProxy(vault.url);
    return { v: vault, p: proxy };
  }

  function vaultSource(address: string): KeySource {
    const config = vaultSourceSchema.parse({ address, path: 'keyward/openai', auth: { approle: {} } });
    source = createVaultSource(config, {
      provider: 'openai',
      env: { VAULT_ROLE_ID: ROLE_ID, VAULT_SECRET_ID: SECRET_ID },
      warn: () => {},
    });
    return source;
  }

  const logins = (v: FakeVault) => v.requests.filter((r) => isLogin(r.method, r.path)).length;
  const revokedWith = (v: FakeVault) =>
    v.requests.filter((r) => r.method === 'POST' && r.path === REVOKE).map((r) => r.headers['x-vault-token']);

  it('a read in flight at close fails, saying the source is closed, and logs in no more', async () => {
    const { v, p } = await start();
    const src = vaultSource(p.url);
    await src.load();
    p.holdNext(isRead, 500);
    const reading = src.load().catch((error: unknown) => error);
    await sleep(100);
    await src.close?.();
    expect(String(await reading)).toMatch(/vault source at .* is closed/);
    expect(logins(v)).toBe(1);
    expect(v.tokens()).toEqual([]);
  });

  it('a login in flight at close is revoked once it lands, and close waits for it', async () => {
    const { v, p } = await start();
    const src = vaultSource(p.url);
    p.holdNext(isLogin, 500);
    const reading = src.load().catch((error: unknown) => error);
    await sleep(100);
    await src.close?.();
    expect(v.tokens()).toEqual([]);
    expect(revokedWith(v)).toHaveLength(1);
    expect(String(await reading)).toMatch(/vault source at .* is closed/);
    expect(v.requests.filter((r) => isRead(r.method, r.path))).toEqual([]);
  });

  it('loads nothing once closed', async () => {
    const { v } = await start();
    const src = vaultSource(v.url);
    await src.load();
    await src.close?.();
    await expect(src.load()).rejects.toThrow(/vault source at .* is closed/);
    expect(logins(v)).toBe(1);
    expect(v.tokens()).toEqual([]);
  });

  function gatewayInput(address: string, path: string) {
    return {
      auth: { apiKeys: { env: 'KEYWARD_API_KEY' } },
      server: { port: 0 },
      admin: { port: 0 },
      providers: [
        {
          id: 'fake',
          type: 'openai' as const,
          baseUrl: 'http://127.0.0.1:9/v1',
          keys: { vault: { address, path, auth: { approle: {} } } },
        },
      ],
    };
  }

  it('a SIGHUP that replaces the source during a refresh: the old source leaves no token, and its keys never come back', async () => {
    const { v, p } = await start();
    v.setSecret('secret', 'keyward/other', { api_key: KEY_B });
    const env = {
      KEYWARD_API_KEY: CLIENT_KEY,
      KEYWARD_ADMIN_KEY: ADMIN_KEY,
      VAULT_ROLE_ID: ROLE_ID,
      VAULT_SECRET_ID: SECRET_ID,
    };
    kw = await startTestGateway(gatewayInput(p.url, 'keyward/openai'), env);
    p.holdNext(isRead, 1000);
    const refreshing = adminCall(kw.adminUrl, 'POST', '/admin/keys/refresh');
    await sleep(200);
    await kw.gateway.reload(configSchema.parse(gatewayInput(p.url, 'keyward/other')));
    const refreshed = await refreshing;
    // The refresh asked for is of the source in place when it ends.
    expect(refreshed.json).toEqual({ refreshed: [{ provider: 'fake', ok: true }] });
    expect(v.tokens()).toHaveLength(1);
    const view = await adminCall(kw.adminUrl, 'GET', '/admin/keys');
    const [provider] = (
      view.json as { providers: Array<{ keys: Array<{ id: string }>; lastError: unknown }> }
    ).providers;
    expect(provider?.keys.map((key) => key.id)).toEqual(['vault:secret/keyward/other#1']);
    expect(provider?.lastError).toBeNull();
  });
});
