import { readFileSync } from 'node:fs';
import { Agent, type Dispatcher, request } from 'undici';
import type { VaultSourceConfig } from '../../config/key-sources.js';
import { SecretString } from '../secret-string.js';
import { KeySourceError } from './errors.js';
import { splitKeyList } from './split.js';
import type { KeySource, SourcedKey } from './types.js';

const TIMEOUT_MS = 10_000;
/** Log in again this long before the AppRole token's lease ends, so a read never races its expiry. */
const TOKEN_MARGIN_MS = 30_000;

interface CachedToken {
  token: string;
  /** Epoch ms after which the token is not used; Infinity for a token without a lease. */
  expiresAt: number;
}

interface VaultResponse {
  status: number;
  /** The parsed JSON body; undefined when the body is not JSON. Never echoed into an error. */
  json: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorCode(err: unknown): string {
  if (isRecord(err)) {
    if (typeof err.code === 'string') return err.code;
    if (isRecord(err.cause) && typeof err.cause.code === 'string') return err.cause.code;
    if (typeof err.name === 'string') return err.name;
  }
  return 'unknown error';
}

/**
 * Reads provider keys from a KV version 2 secret in HashiCorp Vault over its HTTP API (there is no
 * official Node client). Authenticates with a static token from the environment or with AppRole.
 */
export function createVaultSource(
  config: VaultSourceConfig,
  context: { provider: string; env: NodeJS.ProcessEnv },
): KeySource {
  const address = config.address.replace(/\/+$/, '');
  const secretPath = `${config.mount}/${config.path}`;
  const describe = `vault ${address} ${secretPath}#${config.field}`;
  const where = `vault secret ${secretPath} field "${config.field}" (provider ${context.provider})`;
  let agent: Agent | undefined;
  let cached: CachedToken | undefined;
  let login: Promise<CachedToken> | undefined;

  function dispatcher(): Agent {
    if (agent) return agent;
    let ca: string | undefined;
    if (config.caFile) {
      try {
        ca = readFileSync(config.caFile, 'utf8');
      } catch (err) {
        throw new KeySourceError(`cannot read vault CA file ${config.caFile}: ${errorCode(err)}`);
      }
    }
    agent = new Agent({
      connect: { timeout: TIMEOUT_MS, ...(ca ? { ca } : {}) },
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
    return agent;
  }

  async function call(
    method: Dispatcher.HttpMethod,
    path: string,
    headers: Record<string, string>,
    what: string,
    signal: AbortSignal | undefined,
    body?: string,
  ): Promise<VaultResponse> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${address}${path}`, {
        method,
        headers: {
          ...headers,
          ...(config.namespace ? { 'x-vault-namespace': config.namespace } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body,
        signal,
        dispatcher: dispatcher(),
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof KeySourceError) throw err;
      throw new KeySourceError(`connection failed to vault ${address} (${what}): ${errorCode(err)}`);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new KeySourceError(`connection failed to vault ${address} (${what}): ${errorCode(err)}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // The parser's message quotes the body, which may hold a secret: it is dropped on purpose.
      json = undefined;
    }
    return { status: res.statusCode, json };
  }

  async function appRoleLogin(
    approle: { mount: string; roleIdEnv: string; secretIdEnv: string },
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    const roleId = context.env[approle.roleIdEnv]?.trim();
    const secretId = context.env[approle.secretIdEnv]?.trim();
    if (!roleId) throw new KeySourceError(`environment variable ${approle.roleIdEnv} is empty or not set`);
    if (!secretId)
      throw new KeySourceError(`environment variable ${approle.secretIdEnv} is empty or not set`);
    const what = `AppRole login at auth/${approle.mount}`;
    const res = await call(
      'POST',
      `/v1/auth/${approle.mount}/login`,
      {},
      what,
      signal,
      JSON.stringify({ role_id: roleId, secret_id: secretId }),
    );
    if (res.status === 400 || res.status === 403) {
      throw new KeySourceError(
        `vault ${what} failed: permission denied, role id or secret id rejected (HTTP ${res.status})`,
      );
    }
    if (res.status === 404) throw new KeySourceError(`vault ${what} failed: auth mount not found (HTTP 404)`);
    if (res.status !== 200) throw new KeySourceError(`vault ${what} failed: HTTP ${res.status}`);
    const auth = isRecord(res.json) ? res.json.auth : undefined;
    if (!isRecord(auth) || typeof auth.client_token !== 'string' || !auth.client_token) {
      throw new KeySourceError(`vault ${what} answered without a client token`);
    }
    const lease = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
    // A lease of 0 is Vault's way of saying the token does not expire.
    const expiresAt =
      lease > 0 ? Date.now() + Math.max(lease * 1000 - TOKEN_MARGIN_MS, lease * 500) : Infinity;
    return { token: auth.client_token, expiresAt };
  }

  /** The token to send; `reused` when it came from the cache rather than a login just now. */
  async function token(
    signal: AbortSignal | undefined,
    fresh: boolean,
  ): Promise<{ value: string; reused: boolean }> {
    const auth = config.auth;
    if ('token' in auth) {
      const value = context.env[auth.token.env]?.trim();
      if (!value) throw new KeySourceError(`environment variable ${auth.token.env} is empty or not set`);
      return { value, reused: false };
    }
    if (fresh) cached = undefined;
    if (cached && cached.expiresAt > Date.now()) return { value: cached.token, reused: true };
    // Concurrent loads share one login instead of each minting a token.
    login ??= appRoleLogin(auth.approle, signal).finally(() => {
      login = undefined;
    });
    cached = await login;
    return { value: cached.token, reused: false };
  }

  async function read(signal: AbortSignal | undefined): Promise<VaultResponse> {
    const path = `/v1/${config.mount}/data/${config.path}`;
    const what = `reading ${secretPath}`;
    const first = await token(signal, false);
    const res = await call('GET', path, { 'x-vault-token': first.value }, what, signal);
    // A 403 on a cached AppRole token usually means it was revoked or expired early: log in once more.
    // A 403 on a token just minted is the policy speaking, and another login would not change it.
    if (res.status === 403 && first.reused) {
      const second = await token(signal, true);
      return call('GET', path, { 'x-vault-token': second.value }, what, signal);
    }
    return res;
  }

  return {
    kind: 'vault',
    describe,
    refreshMs: config.refreshSeconds * 1000,

    async load(signal?: AbortSignal): Promise<SourcedKey[]> {
      const res = await read(signal);
      if (res.status === 404) throw new KeySourceError(`vault secret ${secretPath} not found (HTTP 404)`);
      if (res.status === 403) {
        throw new KeySourceError(`vault permission denied reading ${secretPath} (HTTP 403)`);
      }
      if (res.status !== 200)
        throw new KeySourceError(`vault answered HTTP ${res.status} reading ${secretPath}`);
      const outer = isRecord(res.json) ? res.json.data : undefined;
      const data = isRecord(outer) ? outer.data : undefined;
      if (!isRecord(data)) {
        throw new KeySourceError(
          `vault secret ${secretPath} has no data: not a KV version 2 secret, or its latest version is deleted`,
        );
      }
      if (!(config.field in data)) {
        throw new KeySourceError(`field "${config.field}" not found in vault secret ${secretPath}`);
      }
      const raw = data[config.field];
      if (typeof raw !== 'string') {
        throw new KeySourceError(`field "${config.field}" in vault secret ${secretPath} is not a string`);
      }
      const metadata = isRecord(outer) ? outer.metadata : undefined;
      const created =
        isRecord(metadata) && typeof metadata.created_time === 'string'
          ? Date.parse(metadata.created_time)
          : Number.NaN;
      return splitKeyList(raw, where).map((value, i) => ({
        id: `vault:${secretPath}#${i + 1}`,
        secret: new SecretString(value),
        ...(Number.isNaN(created) ? {} : { createdAt: created }),
      }));
    },

    async close(): Promise<void> {
      cached = undefined;
      const current = agent;
      agent = undefined;
      await current?.close();
    },
  };
}
