import { readFileSync } from 'node:fs';
import type { Agent, Dispatcher } from 'undici';
import type { VaultSourceConfig } from '../../config/key-sources.js';
import { KeySourceError } from './errors.js';

/** Log in again this long before the AppRole token's lease ends, so a read never races its expiry. */
const TOKEN_MARGIN_MS = 30_000;

/**
 * The longest a token's revocation is waited for (less when `timeoutSeconds` is less): it is best
 * effort, and a Vault that does not answer must not hold the shutdown that revokes the last one.
 */
const REVOKE_TIMEOUT_MS = 2_000;

/**
 * The most of one Vault answer that is read. A KV answer holding a key is a few KB and a login's
 * less; read whole, an address answering gigabytes grew the heap until V8 aborted the gateway,
 * at start or at any refresh, and undici's bodyTimeout bounds only the time between chunks.
 */
const MAX_ANSWER_BYTES = 1024 * 1024;

interface CachedToken {
  token: string;
  /** Epoch ms after which the token is not used; Infinity for a token without a lease. */
  expiresAt: number;
  /** False for a batch token, which Vault cannot revoke: it ends with its TTL only. */
  revocable: boolean;
}

export interface VaultResponse {
  status: number;
  /** The parsed JSON body; undefined when the body is not JSON. Never echoed into an error. */
  json: unknown;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
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

/** The body as text, or undefined once it passes `max` bytes: the rest is never read. */
async function readBounded(body: Dispatcher.ResponseData['body'], max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) {
      // Ends the connection too: left open, the server would go on sending into it.
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * HashiCorp Vault's HTTP API as the vault source uses it (there is no official Node client): one
 * connection pool, a static token from the environment or an AppRole login whose token is cached
 * until shortly before its lease ends. A token of an AppRole login is revoked once it is replaced
 * and at close: left alive, a token the gateway dropped stayed usable until its TTL ended. A static
 * token is the operator's, never revoked here.
 */
export class VaultClient {
  readonly address: string;
  private agent: Agent | undefined;
  private cached: CachedToken | undefined;
  private login: Promise<CachedToken> | undefined;
  /**
   * Set by close(): a read then in flight that met a 403 on the token close() revoked logged in
   * again, and a login then in flight cached its token, each left valid at Vault until its TTL.
   */
  private closed = false;
  /** Revocations under way, which close() waits for before it closes the connection pool. */
  private readonly revoking = new Set<Promise<void>>();

  constructor(
    private readonly config: VaultSourceConfig,
    private readonly env: NodeJS.ProcessEnv,
    /** Operator-facing warnings: a token that could not be revoked. */
    private readonly warn: (message: string) => void,
  ) {
    this.address = config.address.replace(/\/+$/, '');
  }

  /** The configured secret, read with a token; a cached AppRole token that is refused is renewed once. */
  async read(signal: AbortSignal | undefined): Promise<VaultResponse> {
    const { mount, path: secret } = this.config;
    const path = `/v1/${mount}/data/${secret}`;
    const what = `reading ${mount}/${secret}`;
    this.ensureOpen();
    const first = await this.token(signal);
    const res = await this.call('GET', path, { 'x-vault-token': first.value }, what, signal);
    // A 403 on a cached AppRole token usually means it was revoked or expired early: log in once more.
    // A 403 on a token just minted is the policy speaking, and another login would not change it.
    if (res.status === 403 && first.reused) {
      const second = await this.token(signal, first.value);
      return this.call('GET', path, { 'x-vault-token': second.value }, what, signal);
    }
    return res;
  }

  private ensureOpen(): void {
    if (this.closed) throw this.closedError();
  }

  private closedError(): KeySourceError {
    return new KeySourceError(
      `the vault source at ${this.address} is closed (its provider's keys were reloaded or the gateway is stopping)`,
    );
  }

  /** undici's index, which `request()` needs, is loaded at the first call, not by every gateway. */
  private async dispatcher(): Promise<Agent> {
    if (this.agent) return this.agent;
    let ca: string | undefined;
    if (this.config.caFile) {
      try {
        ca = readFileSync(this.config.caFile, 'utf8');
      } catch (err) {
        throw new KeySourceError(`cannot read vault CA file ${this.config.caFile}: ${errorCode(err)}`);
      }
    }
    const { Agent } = await import('undici');
    const timeout = this.config.timeoutSeconds * 1000;
    // Closed during the import: an Agent made now would never be closed.
    this.ensureOpen();
    this.agent ??= new Agent({
      connect: { timeout, ...(ca ? { ca } : {}) },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    return this.agent;
  }

  private async call(
    method: Dispatcher.HttpMethod,
    path: string,
    headers: Record<string, string>,
    what: string,
    signal: AbortSignal | undefined,
    body?: string,
  ): Promise<VaultResponse> {
    let res: Dispatcher.ResponseData;
    try {
      const dispatcher = await this.dispatcher();
      const { request } = await import('undici');
      res = await request(`${this.address}${path}`, {
        method,
        headers: {
          ...headers,
          ...(this.config.namespace ? { 'x-vault-namespace': this.config.namespace } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body,
        signal,
        dispatcher,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof KeySourceError) throw err;
      throw new KeySourceError(`connection failed to vault ${this.address} (${what}): ${errorCode(err)}`);
    }
    let text: string | undefined;
    try {
      text = await readBounded(res.body, MAX_ANSWER_BYTES);
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw new KeySourceError(`connection failed to vault ${this.address} (${what}): ${errorCode(err)}`);
    }
    if (text === undefined) {
      throw new KeySourceError(
        `vault ${this.address} (${what}) answered more than ${MAX_ANSWER_BYTES} bytes (HTTP ${res.statusCode})`,
      );
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

  private async appRoleLogin(
    approle: { mount: string; roleIdEnv: string; secretIdEnv: string },
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    const roleId = this.env[approle.roleIdEnv]?.trim();
    const secretId = this.env[approle.secretIdEnv]?.trim();
    if (!roleId) throw new KeySourceError(`environment variable ${approle.roleIdEnv} is empty or not set`);
    if (!secretId)
      throw new KeySourceError(`environment variable ${approle.secretIdEnv} is empty or not set`);
    const what = `AppRole login at auth/${approle.mount}`;
    const res = await this.call(
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
    return { token: auth.client_token, expiresAt, revocable: auth.token_type !== 'batch' };
  }

  /**
   * Revokes an AppRole token no longer used (`auth/token/revoke-self`, sent with that token), within
   * REVOKE_TIMEOUT_MS. Never throws: a failure is logged, naming the Vault but not the token.
   */
  private revoke(stale: CachedToken): void {
    if (!stale.revocable) return;
    const ms = Math.min(REVOKE_TIMEOUT_MS, this.config.timeoutSeconds * 1000);
    const failed = (why: string) =>
      this.warn(
        `could not revoke the vault token keyward stopped using at ${this.address} (${why}); it stays valid until its TTL ends`,
      );
    const revoking = this.call(
      'POST',
      '/v1/auth/token/revoke-self',
      { 'x-vault-token': stale.token },
      'revoking its token',
      AbortSignal.timeout(ms),
    ).then(
      (res) => {
        // Vault answers 403 to a token it no longer takes (revoked, expired) as to one whose policy
        // lacks revoke-self (the default policy has it): only the second leaves the token alive.
        if (res.status === 403) {
          this.warn(
            `vault ${this.address} refused to revoke the token keyward stopped using (HTTP 403): it is already invalid, or its policy lacks "update" on auth/token/revoke-self`,
          );
        } else if (res.status < 200 || res.status > 299) failed(`HTTP ${res.status}`);
      },
      (err: unknown) => failed(err instanceof KeySourceError ? err.message : `no answer within ${ms} ms`),
    );
    this.revoking.add(revoking);
    void revoking.finally(() => this.revoking.delete(revoking));
  }

  /**
   * The token to send; `reused` when it came from the cache rather than a login just now. `refused`:
   * a cached token Vault just answered 403 to, replaced by a new login.
   */
  private async token(
    signal: AbortSignal | undefined,
    refused?: string,
  ): Promise<{ value: string; reused: boolean }> {
    const auth = this.config.auth;
    if ('token' in auth) {
      const value = this.env[auth.token.env]?.trim();
      if (!value) throw new KeySourceError(`environment variable ${auth.token.env} is empty or not set`);
      return { value, reused: false };
    }
    const current = this.cached;
    if (current && (current.token === refused || current.expiresAt <= Date.now())) {
      this.cached = undefined;
      this.revoke(current);
    }
    if (this.cached) return { value: this.cached.token, reused: true };
    this.ensureOpen();
    // Concurrent loads share one login instead of each minting a token.
    this.login ??= this.appRoleLogin(auth.approle, signal)
      .then((fresh) => this.landed(fresh))
      .finally(() => {
        this.login = undefined;
      });
    const fresh = await this.login;
    return { value: fresh.token, reused: false };
  }

  /**
   * A login's token, cached in the same step that checks close() has not run meanwhile: cached a
   * turn later, close() could pass between and leave it valid. After close it is revoked instead.
   */
  private landed(fresh: CachedToken): CachedToken {
    if (this.closed) {
      this.revoke(fresh);
      throw this.closedError();
    }
    this.cached = fresh;
    return fresh;
  }

  /**
   * Revokes the AppRole token in use and the one of a login under way once it lands, then closes
   * the connection pool; a read or login asked for afterwards fails, naming the source closed.
   */
  async close(): Promise<void> {
    this.closed = true;
    const last = this.cached;
    this.cached = undefined;
    if (last) this.revoke(last);
    // Bounded by timeoutSeconds (the pool's timeouts) and the load's deadline, which aborts it.
    await this.login?.catch(() => undefined);
    await Promise.all(this.revoking);
    const current = this.agent;
    this.agent = undefined;
    await current?.close();
  }
}
