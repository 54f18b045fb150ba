import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestListener,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request as the fake Vault received it. */
export interface VaultRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface StoredSecret {
  data: Record<string, unknown>;
  createdTime: string;
  version: number;
}

interface TokenInfo {
  /** The namespace the token was issued in ('' for the root namespace): it is valid only there. */
  namespace: string;
  expiresAt: number;
}

interface AppRole {
  namespace: string;
  roleId: string;
  secretId: string;
  leaseSeconds: number;
  tokenType: 'service' | 'batch';
}

export interface FakeVault {
  url: string;
  requests: VaultRequest[];
  /** Writes a new version of a KV v2 secret, as `vault kv put` would. */
  setSecret(
    mount: string,
    path: string,
    data: Record<string, unknown>,
    options?: { namespace?: string; createdTime?: string },
  ): void;
  deleteSecret(mount: string, path: string, namespace?: string): void;
  /** Reads of this secret answer 403 whatever the token, as a policy without `read` on it would. */
  denyPath(mount: string, path: string, namespace?: string): void;
  /** Makes a token valid, as `vault token create` would. */
  addToken(token: string, options?: { namespace?: string; ttlSeconds?: number }): void;
  revokeToken(token: string): void;
  revokeAllTokens(): void;
  /** Tokens currently valid, including those minted by AppRole logins. */
  tokens(): string[];
  enableAppRole(
    mount: string,
    role: {
      roleId: string;
      secretId: string;
      leaseSeconds?: number;
      namespace?: string;
      /** The role's `token_type`; a batch token cannot be revoked. */
      tokenType?: 'service' | 'batch';
    },
  ): void;
  /** Every request answers this status with a noisy body until called with undefined. */
  failWith(status: number | undefined): void;
  /** While true, requests are taken and never answered, as by a Vault that hangs. */
  hang(on: boolean): void;
  /**
   * Every answer, still valid JSON, carries a `pad` field of this many bytes, streamed without a
   * content-length, until called with undefined.
   */
  padAnswers(bytes: number | undefined): void;
  /** Padded answers whose connection the client closed before their end. */
  cutShort(): number;
  /** Stops listening and drops open connections: the address stays but nothing answers. */
  stop(): Promise<void>;
  close(): Promise<void>;
}

/** The kind of body a real Vault returns on a storage failure: internal detail the gateway must not echo. */
export const VAULT_INTERNAL_ERROR_DETAIL = 'storage backend consul-7.corp.internal unreachable';

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/**
 * A Vault speaking the real HTTP API for KV version 2 reads and AppRole logins; over HTTPS when
 * given a key and certificate.
 */
export async function startFakeVault(
  options: { tls?: { key: Buffer; cert: Buffer } } = {},
): Promise<FakeVault> {
  const requests: VaultRequest[] = [];
  const secrets = new Map<string, StoredSecret>();
  const tokens = new Map<string, TokenInfo>();
  const appRoles = new Map<string, AppRole>();
  const deniedPaths = new Set<string>();
  const batchTokens = new Set<string>();
  let failure: number | undefined;
  let hanging = false;
  let padding: number | undefined;
  let cut = 0;

  /** `body` with a `pad` field of `bytes` spaces, written as the client takes it. */
  function sendPadded(res: ServerResponse, status: number, body: object, bytes: number): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.write(`${text.slice(0, -1)}${text.length > 2 ? ',' : ''}"pad":"`);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let left = bytes;
    res.on('close', () => {
      if (!res.writableFinished) cut += 1;
    });
    const pump = () => {
      while (left > 0 && !res.destroyed) {
        const part = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= part.length;
        if (!res.write(part)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end('"}');
    };
    pump();
  }

  function reply(res: ServerResponse, status: number, body: object): void {
    if (padding === undefined) send(res, status, body);
    else sendPadded(res, status, body, padding);
  }

  const key = (namespace: string, mount: string, path: string) => `${namespace}|${mount}/${path}`;

  function validToken(req: IncomingMessage, namespace: string): boolean {
    const info = tokens.get(header(req, 'x-vault-token'));
    return info !== undefined && info.namespace === namespace && info.expiresAt > Date.now();
  }

  function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
    const url = new URL(req.url ?? '/', 'http://vault');
    requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body });
    if (hanging) return;
    if (failure !== undefined) {
      reply(res, failure, { errors: [`1 error occurred:\n\t* ${VAULT_INTERNAL_ERROR_DETAIL}\n\n`] });
      return;
    }
    const namespace = header(req, 'x-vault-namespace').replace(/^\/+|\/+$/g, '');

    const login = /^\/v1\/auth\/([^/]+)\/login$/.exec(url.pathname);
    if (login && req.method === 'POST') {
      const role = appRoles.get(login[1]!);
      if (!role || role.namespace !== namespace) {
        reply(res, 403, { errors: ['permission denied'] });
        return;
      }
      let parsed: { role_id?: unknown; secret_id?: unknown };
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        reply(res, 400, { errors: ['failed to parse JSON input'] });
        return;
      }
      if (parsed.role_id !== role.roleId || parsed.secret_id !== role.secretId) {
        reply(res, 400, { errors: ['invalid role or secret ID'] });
        return;
      }
      const token = `hvs.${randomUUID().replaceAll('-', '')}`;
      tokens.set(token, { namespace, expiresAt: Date.now() + role.leaseSeconds * 1000 });
      if (role.tokenType === 'batch') batchTokens.add(token);
      reply(res, 200, {
        request_id: randomUUID(),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: null,
        wrap_info: null,
        warnings: null,
        auth: {
          client_token: token,
          accessor: randomUUID(),
          policies: ['default', 'keyward'],
          token_policies: ['default', 'keyward'],
          metadata: { role_name: 'keyward' },
          lease_duration: role.leaseSeconds,
          renewable: true,
          entity_id: randomUUID(),
          token_type: role.tokenType,
          orphan: true,
        },
      });
      return;
    }

    // Vault's "Revoke a token (self)": 204 with no body; a batch token cannot be revoked.
    if (url.pathname === '/v1/auth/token/revoke-self' && req.method === 'POST') {
      if (!validToken(req, namespace)) {
        reply(res, 403, { errors: ['permission denied'] });
        return;
      }
      const token = header(req, 'x-vault-token');
      if (batchTokens.has(token)) {
        reply(res, 400, { errors: ['batch tokens cannot be revoked'] });
        return;
      }
      tokens.delete(token);
      res.writeHead(204);
      res.end();
      return;
    }

    const read = /^\/v1\/(.+?)\/data\/(.+)$/.exec(url.pathname);
    if (read && req.method === 'GET') {
      if (!validToken(req, namespace) || deniedPaths.has(key(namespace, read[1]!, read[2]!))) {
        reply(res, 403, { errors: ['permission denied'] });
        return;
      }
      const secret = secrets.get(key(namespace, read[1]!, read[2]!));
      if (!secret) {
        reply(res, 404, { errors: [] });
        return;
      }
      reply(res, 200, {
        request_id: randomUUID(),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: {
          data: secret.data,
          metadata: {
            created_time: secret.createdTime,
            custom_metadata: null,
            deletion_time: '',
            destroyed: false,
            version: secret.version,
          },
        },
        wrap_info: null,
        warnings: null,
        auth: null,
      });
      return;
    }

    reply(res, 404, { errors: [`no handler for route "${url.pathname.slice(4)}". route entry not found.`] });
  }

  const listener: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  };
  const server = options.tls ? createHttpsServer(options.tls, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let stopped = false;

  async function stop(): Promise<void> {
    if (stopped) return;
    stopped = true;
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
  }

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    setSecret(mount, path, data, options = {}) {
      const k = key(options.namespace ?? '', mount, path);
      const version = (secrets.get(k)?.version ?? 0) + 1;
      secrets.set(k, { data, version, createdTime: options.createdTime ?? new Date().toISOString() });
    },
    deleteSecret(mount, path, namespace = '') {
      secrets.delete(key(namespace, mount, path));
    },
    denyPath(mount, path, namespace = '') {
      deniedPaths.add(key(namespace, mount, path));
    },
    addToken(token, options = {}) {
      const ttl = options.ttlSeconds ?? 3600;
      tokens.set(token, { namespace: options.namespace ?? '', expiresAt: Date.now() + ttl * 1000 });
    },
    revokeToken(token) {
      tokens.delete(token);
    },
    revokeAllTokens() {
      tokens.clear();
    },
    tokens() {
      return [...tokens.keys()];
    },
    enableAppRole(mount, role) {
      appRoles.set(mount, {
        roleId: role.roleId,
        secretId: role.secretId,
        leaseSeconds: role.leaseSeconds ?? 3600,
        namespace: role.namespace ?? '',
        tokenType: role.tokenType ?? 'service',
      });
    },
    failWith(status) {
      failure = status;
    },
    hang(on) {
      hanging = on;
    },
    padAnswers(bytes) {
      padding = bytes;
    },
    cutShort() {
      return cut;
    },
    stop,
    close: stop,
  };
}
