/**
 * A key past its source's expiry (`expiresAt`) is out of the pool like a benched one, but the
 * provider refused nothing: no key left is `expired`, not `invalid` (503 provider_keys_invalid told
 * the client the provider had refused every key), and the pool has no usable key (readiness).
 */
import { describe, expect, it } from 'vitest';
import { KeysUnavailable } from '../../src/forward/key-lease.js';
import { KeyPool } from '../../src/keys/key-pool.js';
import { SecretString } from '../../src/keys/secret-string.js';

const NOW = 1_800_000_000_000;

function pool(keys: Array<{ id: string; expiresAt?: number }>): KeyPool {
  return new KeyPool(
    keys.map(({ id, expiresAt }) => ({
      id,
      secret: new SecretString(`sk-${id}-aaaaaaaaaaaaaaaaaaaaaaaa`),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    })),
  );
}

describe('an expired key', () => {
  it('leaves the pool with no usable key, saying expired', () => {
    const keys = pool([{ id: 'a', expiresAt: NOW }]);
    expect(keys.hasUsable(NOW - 1)).toBe(true);
    expect(keys.hasUsable(NOW)).toBe(false);
    expect(keys.acquire(NOW)).toEqual({ exhausted: 'expired' });
  });

  it('with the others refused, is still no refusal of every key', () => {
    const keys = pool([{ id: 'a', expiresAt: NOW }, { id: 'b' }]);
    const b = keys.list()[1]!;
    keys.bench(b, NOW + 60_000, NOW);
    expect(keys.hasUsable(NOW)).toBe(false);
    expect(keys.acquire(NOW)).toEqual({ exhausted: 'expired' });
  });

  it('answers the client 503 provider_unavailable, not provider_keys_invalid', () => {
    const error = new KeysUnavailable({ exhausted: 'expired' }).toGatewayError();
    expect(error.status).toBe(503);
    expect(error.code).toBe('provider_unavailable');
    expect(error.message).toBe('The provider has no usable key');
  });
});
