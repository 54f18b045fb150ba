/**
 * A fake Azure Key Vault: a real HTTPS server on loopback speaking the Key Vault secrets REST API
 * the way `@azure/keyvault-secrets` 4.11 uses it, plus a plain-HTTP App Service managed-identity
 * endpoint (`IDENTITY_ENDPOINT` / `IDENTITY_HEADER`, api-version 2019-08-01, as implemented by
 * msal-node's AppService source that `@azure/identity` 4.13 delegates to).
 *
 * The Key Vault side imitates challenge authentication: a request without a bearer token gets 401
 * with `WWW-Authenticate: Bearer authorization="…/<tenant>", resource="https://vault.azure.net"`,
 * which the SDK's keyVaultAuthenticationPolicy parses before fetching a token and retrying. The SDK
 * sends a token only to a host under the resource the challenge names, so the fake answers as
 * FAKE_VAULT_HOST, a name under vault.azure.net that `hostEnv` resolves to loopback in the process
 * under test (test/support/loopback-dns.cjs); its `loopbackUrl` is a host outside Azure's domains.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** The fake vault's host name: under vault.azure.net, resolved to 127.0.0.1 by `hostEnv`. */
export const FAKE_VAULT_HOST = 'keyward-fake.vault.azure.net';
const VAULT_RESOURCE = 'https://vault.azure.net';
const LOOPBACK_DNS = join(import.meta.dirname, 'loopback-dns.cjs');

export interface TestCertificates {
  /** PEM file of the throwaway CA, for NODE_EXTRA_CA_CERTS. */
  caFile: string;
  cert: string;
  key: string;
}

/** A throwaway CA and a server certificate it signed for 127.0.0.1, localhost and FAKE_VAULT_HOST, made with openssl. */
export function createTestCertificates(dir: string): TestCertificates {
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=Keyward test CA',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=localhost',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  );
  writeFileSync(
    file('server.ext'),
    `subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:${FAKE_VAULT_HOST}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
    '-out',
    file('server.pem'),
  );
  return {
    caFile: file('ca.pem'),
    cert: readFileSync(file('server.pem'), 'utf8'),
    key: readFileSync(file('server.key'), 'utf8'),
  };
}

interface StoredVersion {
  version: string;
  value: string;
  /** Epoch seconds, as Key Vault's `attributes.created`. */
  created: number;
  /** Epoch seconds, as `attributes.exp` and `attributes.nbf`: the service still returns the value outside them. */
  exp?: number;
  nbf?: number;
  /** False: a GET answers 403 SecretDisabled, as Key Vault does for a disabled secret. */
  enabled: boolean;
}

export interface VaultRequest {
  method: string;
  path: string;
  apiVersion: string | null;
  /** The bearer token sent, if any. */
  token: string | undefined;
  /** 0 for a request left unanswered (`hang`). */
  status: number;
}

export interface FakeKeyVault {
  /** The vault URL, https://FAKE_VAULT_HOST:PORT. */
  url: string;
  /** The same vault as https://127.0.0.1:PORT: a host outside Azure's vault domains. */
  loopbackUrl: string;
  /** Environment that makes FAKE_VAULT_HOST resolve to the fake in a Node process started with it. */
  hostEnv: { NODE_OPTIONS: string; KEYWARD_TEST_LOOPBACK_HOSTS: string };
  /** Environment that makes DefaultAzureCredential take the App Service managed identity route. */
  identityEnv: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  /** The access token the managed identity endpoint issues. */
  token: string;
  requests: VaultRequest[];
  /** `status` 0 for a request left unanswered (`hangTokens`). */
  tokenRequests: { resource: string | null; apiVersion: string | null; status: number }[];
  /** Adds a version of a secret (the newest is what a request without a version gets); returns its id. */
  setSecret(
    name: string,
    value: string,
    options?: { created?: number; exp?: number; nbf?: number; enabled?: boolean },
  ): string;
  /** Answers 403 for this secret, as for an identity without `get` permission. */
  forbid(name: string): void;
  /**
   * While set, every vault request, with a token or without, gets a 401 challenge naming this
   * resource, as from a host that asks for a token to another Azure service; undefined: the vault's own.
   */
  challengeFor(resource: string | undefined): void;
  /** While true, vault requests are taken and never answered, as by a vault that hangs. */
  hang(on: boolean): void;
  /** While true, token requests are taken and never answered, as by a managed identity endpoint that hangs. */
  hangTokens(on: boolean): void;
  /** Requests left unanswered whose connection the client has not closed yet, by server. */
  held(): { vault: number; token: number };
  close(): Promise<void>;
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

export interface FakeKeyVaultOptions {
  /**
   * How long an issued token lasts (default 3600). msal-node keeps tokens in a cache shared by every
   * credential of the process and asks again only within 5 minutes of expiry, so a token that lasts
   * less makes each new client ask the endpoint.
   */
  tokenLifetimeSeconds?: number;
}

export async function startFakeKeyVault(
  tls: { cert: string; key: string },
  options: FakeKeyVaultOptions = {},
): Promise<FakeKeyVault> {
  const token = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-${randomBytes(12).toString('hex')}`;
  const identityHeader = randomBytes(16).toString('hex');
  const secrets = new Map<string, StoredVersion[]>();
  const forbidden = new Set<string>();
  const requests: VaultRequest[] = [];
  const tokenRequests: FakeKeyVault['tokenRequests'] = [];
  let origin = '';
  let hanging = false;
  let tokensHanging = false;
  let challenged: string | undefined;
  const heldVault = new Set<ServerResponse>();
  const heldToken = new Set<ServerResponse>();

  /** Leaves `res` unanswered, in `held` until the client gives up on it. */
  function hold(res: ServerResponse, held: Set<ServerResponse>): void {
    held.add(res);
    res.on('close', () => held.delete(res));
  }

  const vault = createHttpsServer(
    { cert: tls.cert, key: tls.key },
    (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'https://vault.invalid');
      const auth = req.headers.authorization;
      const sent = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
      const record = (status: number) =>
        requests.push({
          method: req.method ?? '',
          path: url.pathname,
          apiVersion: url.searchParams.get('api-version'),
          token: sent,
          status,
        });
      req.resume();
      if (hanging) {
        record(0);
        hold(res, heldVault);
        return;
      }
      if (sent !== token || challenged) {
        record(401);
        json(
          res,
          401,
          { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } },
          {
            'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT_ID}", resource="${challenged ?? VAULT_RESOURCE}"`,
          },
        );
        return;
      }
      if (!url.searchParams.get('api-version')) {
        record(400);
        json(res, 400, {
          error: { code: 'BadParameter', message: 'The api-version query parameter is required.' },
        });
        return;
      }
      const match = /^\/secrets\/([0-9A-Za-z-]+)(?:\/([0-9A-Za-z]*))?\/?$/.exec(url.pathname);
      if (req.method !== 'GET' || !match) {
        record(400);
        json(res, 400, { error: { code: 'BadParameter', message: 'Unsupported request.' } });
        return;
      }
      const [, name = '', version] = match;
      if (forbidden.has(name)) {
        record(403);
        // Carries the secret's value so that a test can tell whether service text leaks into errors.
        json(res, 403, {
          error: {
            code: 'Forbidden',
            message: `The user, group or application 'appid=fake' does not have secrets get permission on key vault 'fake;location=westeurope'. Value was ${secrets.get(name)?.at(-1)?.value}`,
            innererror: { code: 'AccessDenied' },
          },
        });
        return;
      }
      const versions = secrets.get(name) ?? [];
      const found = version ? versions.find((v) => v.version === version) : versions.at(-1);
      if (!found) {
        record(404);
        json(res, 404, {
          error: {
            code: 'SecretNotFound',
            message: `A secret with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault.`,
          },
        });
        return;
      }
      if (!found.enabled) {
        record(403);
        json(res, 403, {
          error: {
            code: 'Forbidden',
            message: 'Operation get is not allowed on a disabled secret.',
            innererror: { code: 'SecretDisabled' },
          },
        });
        return;
      }
      record(200);
      json(res, 200, {
        value: found.value,
        id: `${origin}/secrets/${name}/${found.version}`,
        attributes: {
          enabled: true,
          ...(found.nbf === undefined ? {} : { nbf: found.nbf }),
          ...(found.exp === undefined ? {} : { exp: found.exp }),
          created: found.created,
          updated: found.created,
          recoveryLevel: 'Recoverable+Purgeable',
          recoverableDays: 90,
        },
        tags: {},
      });
    },
  );

  const identity = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://identity.invalid');
    req.resume();
    const entry = {
      resource: url.searchParams.get('resource'),
      apiVersion: url.searchParams.get('api-version'),
      status: 200,
    };
    tokenRequests.push(entry);
    if (tokensHanging) {
      entry.status = 0;
      hold(res, heldToken);
      return;
    }
    if (url.pathname !== '/msi/token' || req.headers['x-identity-header'] !== identityHeader) {
      entry.status = 400;
      json(res, 400, { statusCode: 400, message: 'Unable to load the proper Managed Identity.' });
      return;
    }
    json(res, 200, {
      access_token: token,
      expires_on: String(Math.floor(Date.now() / 1000) + (options.tokenLifetimeSeconds ?? 3600)),
      resource: entry.resource,
      token_type: 'Bearer',
      client_id: '00000000-0000-0000-0000-000000000001',
    });
  });

  vault.listen(0, '127.0.0.1');
  identity.listen(0, '127.0.0.1');
  await Promise.all([once(vault, 'listening'), once(identity, 'listening')]);
  const vaultPort = (vault.address() as AddressInfo).port;
  origin = `https://${FAKE_VAULT_HOST}:${vaultPort}`;
  const identityPort = (identity.address() as AddressInfo).port;
  let versionCounter = 0;

  return {
    url: origin,
    loopbackUrl: `https://127.0.0.1:${vaultPort}`,
    hostEnv: { NODE_OPTIONS: `--require ${LOOPBACK_DNS}`, KEYWARD_TEST_LOOPBACK_HOSTS: FAKE_VAULT_HOST },
    identityEnv: {
      IDENTITY_ENDPOINT: `http://127.0.0.1:${identityPort}/msi/token`,
      IDENTITY_HEADER: identityHeader,
    },
    token,
    requests,
    tokenRequests,
    setSecret(name, value, options = {}) {
      versionCounter += 1;
      const version = `${randomBytes(12).toString('hex')}${versionCounter}`.slice(0, 32);
      const list = secrets.get(name) ?? [];
      list.push({
        version,
        value,
        created: options.created ?? Math.floor(Date.now() / 1000),
        exp: options.exp,
        nbf: options.nbf,
        enabled: options.enabled ?? true,
      });
      secrets.set(name, list);
      return version;
    },
    forbid(name) {
      forbidden.add(name);
    },
    challengeFor(resource) {
      challenged = resource;
    },
    hang(on) {
      hanging = on;
    },
    hangTokens(on) {
      tokensHanging = on;
    },
    held() {
      return { vault: heldVault.size, token: heldToken.size };
    },
    async close() {
      vault.closeAllConnections();
      identity.closeAllConnections();
      await Promise.all([
        new Promise((resolve) => vault.close(resolve)),
        new Promise((resolve) => identity.close(resolve)),
      ]);
    },
  };
}
