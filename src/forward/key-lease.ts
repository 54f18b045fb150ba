import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors/gateway-error.js';
import type { Acquired, KeyEvents, PooledKey, SecretString } from '../keys/index.js';
import type { Metrics } from '../observability/index.js';
import { parseRetryAfter } from '../upstream/index.js';
import type { ProviderRuntime } from './provider-runtime.js';

/** No key of the provider can be used now; carries when the first one recovers. */
export class KeysUnavailable extends Error {
  override name = 'KeysUnavailable';
  constructor(readonly reason: Exclude<Acquired, { key: PooledKey }>) {
    super('no usable provider key');
  }

  toGatewayError(): GatewayError {
    if (this.reason.exhausted === 'cooling') {
      const seconds = Math.max(1, Math.ceil(this.reason.retryAfterMs / 1000));
      return new GatewayError(
        429,
        'rate_limit_error',
        `All provider keys are cooling down after rate limits; retry after ${seconds} s`,
        { code: 'provider_keys_cooling', headers: { 'retry-after': String(seconds) } },
      );
    }
    if (this.reason.exhausted === 'invalid') {
      return new GatewayError(
        503,
        'service_unavailable',
        'The provider refused every key the gateway holds for it; an operator must replace them',
        { code: 'provider_keys_invalid' },
      );
    }
    return new GatewayError(503, 'service_unavailable', 'The provider has no usable key', {
      code: 'provider_unavailable',
    });
  }
}

export const passthroughKeyMissing = new GatewayError(
  401,
  'authentication_error',
  "This model's provider uses your own provider key: send it in the x-provider-api-key header",
  { code: 'provider_key_required' },
);

export const passthroughKeyRejected = new GatewayError(
  401,
  'authentication_error',
  'The provider refused the key sent in x-provider-api-key',
  { code: 'provider_key_rejected' },
);

/**
 * The key side of one request to one provider: which key each attempt uses, and what the
 * provider's answer says about that key. A pooled key that is rate limited cools down; one that
 * is refused is benched and alerted on; either way the next attempt moves to another key. A
 * passthrough key belongs to the client: it is used as given and its failures mark nothing.
 */
export class KeyLease {
  private current: PooledKey | undefined;
  readonly pooled: boolean;

  constructor(
    private readonly provider: ProviderRuntime,
    private readonly passthroughKey: SecretString | undefined,
    private readonly metrics: Metrics,
    private readonly events: KeyEvents,
  ) {
    const { keys, adapter } = provider;
    this.pooled = !keys.passthrough && (adapter.requiresKey || keys.pool.size > 0);
  }

  /** How many times a request may move to another key: once per key in the pool. */
  get maxRotations(): number {
    return this.pooled ? this.provider.keys.pool.size : 0;
  }

  /** The key for the next attempt. Throws KeysUnavailable when the pool has none to give. */
  next(): SecretString | undefined {
    if (!this.pooled) return this.passthroughKey;
    const acquired = this.provider.keys.acquire();
    if (!acquired.key) throw new KeysUnavailable(acquired);
    this.current = acquired.key;
    this.metrics.providerKeyUsed(this.provider.id, acquired.key.id);
    return acquired.key.secret;
  }

  judge(status: number, headers: IncomingHttpHeaders): 'rotate' | undefined {
    const key = this.current;
    if (!key) return undefined;
    const { pool } = this.provider.keys;
    if (status === 429) {
      pool.rateLimited(key, parseRetryAfter(headers['retry-after']));
      this.metrics.providerKeyFailed(this.provider.id, key.id, 'rate_limited');
      return 'rotate';
    }
    if (status === 401 || status === 403) {
      pool.rejected(key);
      this.metrics.providerKeyFailed(this.provider.id, key.id, 'rejected');
      this.events.alert(
        this.provider.id,
        'key_rejected',
        key.id,
        `provider ${this.provider.id} refused key ${key.id} (${key.secret.fingerprint}) with ${status}; it is out of rotation until replaced`,
      );
      return 'rotate';
    }
    if (status < 400) pool.succeeded(key);
    return undefined;
  }
}
