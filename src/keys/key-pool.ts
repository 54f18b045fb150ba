import type { SecretString } from './secret-string.js';
import type { SourcedKey } from './sources/types.js';

export type KeyState = 'active' | 'cooling' | 'invalid';

/** One key in a pool, with its health. Requests hold on to the lease they started with. */
export interface PooledKey {
  readonly id: string;
  readonly secret: SecretString;
  readonly weight: number;
  readonly createdAt: number | undefined;
  state: KeyState;
  /** Epoch ms when a cooling key may be used again. */
  coolUntil: number;
  /** Consecutive 429s without a Retry-After, for the exponential cool-down. */
  strikes: number;
  /** Smooth weighted round-robin credit. */
  credit: number;
  /** Requests handed this key since it was loaded. */
  requests: number;
  /** The last time the provider refused it, and how: for the dashboard. */
  lastFailure: { kind: 'rate_limited' | 'invalid'; at: number } | null;
}

export type Acquired =
  | { key: PooledKey }
  | { key?: undefined; exhausted: 'cooling'; retryAfterMs: number }
  | { key?: undefined; exhausted: 'invalid' | 'empty' };

const BASE_COOL_DOWN_MS = 1_000;
const MAX_COOL_DOWN_MS = 60_000;
/** A provider cannot bench a key for longer than this with one Retry-After. */
const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * The keys of one provider and their health. Picks among usable keys by smooth weighted
 * round-robin (plain round-robin when weights are equal); a rate-limited key cools down; one a
 * probe confirmed invalid is benched until it is replaced or a later probe restores it
 * (`KeyChecker`): no client request ever puts a benched key back in rotation.
 */
export class KeyPool {
  private keys: PooledKey[] = [];

  constructor(keys: readonly SourcedKey[] = []) {
    this.replace(keys);
  }

  get size(): number {
    return this.keys.length;
  }

  /**
   * Swaps in a new key set (a refresh, a rotation). A key that keeps its id and value keeps its
   * health; requests in flight finish on the keys they hold.
   */
  replace(keys: readonly SourcedKey[]): void {
    const previous = new Map(this.keys.map((key) => [key.id, key]));
    this.keys = keys.map((sourced) => {
      const old = previous.get(sourced.id);
      if (old && old.secret.fingerprint === sourced.secret.fingerprint) {
        return { ...old, secret: sourced.secret, weight: sourced.weight ?? 1, createdAt: sourced.createdAt };
      }
      return {
        id: sourced.id,
        secret: sourced.secret,
        weight: sourced.weight ?? 1,
        createdAt: sourced.createdAt,
        state: 'active',
        coolUntil: 0,
        strikes: 0,
        credit: 0,
        requests: 0,
        lastFailure: null,
      };
    });
  }

  list(): readonly PooledKey[] {
    return this.keys;
  }

  acquire(now: number = Date.now()): Acquired {
    let best: PooledKey | undefined;
    let total = 0;
    let earliest = Number.POSITIVE_INFINITY;
    for (const key of this.keys) {
      if (key.state === 'invalid') continue;
      if (key.state !== 'active') {
        if (key.coolUntil > now) {
          if (key.state === 'cooling') earliest = Math.min(earliest, key.coolUntil);
          continue;
        }
        key.state = 'active';
      }
      key.credit += key.weight;
      total += key.weight;
      if (!best || key.credit > best.credit) best = key;
    }
    if (best) {
      best.credit -= total;
      best.requests++;
      return { key: best };
    }
    if (this.keys.length === 0) return { exhausted: 'empty' };
    if (earliest === Number.POSITIVE_INFINITY) return { exhausted: 'invalid' };
    return { exhausted: 'cooling', retryAfterMs: earliest - now };
  }

  /**
   * Told of every change of a key's health this pool makes itself (not of those `apply` brings
   * from elsewhere): the workers of one machine share them, so that none keeps using a key another
   * found rate limited or refused.
   */
  onChange: ((keyId: string, state: KeyState, until: number) => void) | undefined;

  /** A change of a key's health another process saw; unknown ids are ignored. */
  apply(keyId: string, state: KeyState, until: number, now: number = Date.now()): void {
    const key = this.keys.find((candidate) => candidate.id === keyId);
    if (!key) return;
    if (state === 'active') {
      key.state = 'active';
      key.coolUntil = 0;
      key.strikes = 0;
      return;
    }
    if (state === 'invalid' || key.state !== 'invalid') key.state = state;
    key.coolUntil = Math.max(key.coolUntil, until);
    key.lastFailure = { kind: state === 'invalid' ? 'invalid' : 'rate_limited', at: now };
  }

  /** The provider answered 429 for this key. */
  rateLimited(key: PooledKey, retryAfterMs: number | undefined, now: number = Date.now()): void {
    key.strikes += 1;
    const wait =
      retryAfterMs !== undefined
        ? Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS)
        : Math.min(BASE_COOL_DOWN_MS * 2 ** (key.strikes - 1), MAX_COOL_DOWN_MS);
    if (key.state !== 'invalid') key.state = 'cooling';
    key.coolUntil = Math.max(key.coolUntil, now + wait);
    key.lastFailure = { kind: 'rate_limited', at: now };
    this.onChange?.(key.id, 'cooling', key.coolUntil);
  }

  /** A probe confirmed that the provider refuses this key: out until replaced or restored. */
  bench(key: PooledKey, recheckAt: number, now: number = Date.now()): void {
    key.state = 'invalid';
    key.coolUntil = recheckAt;
    key.lastFailure = { kind: 'invalid', at: now };
    this.onChange?.(key.id, 'invalid', recheckAt);
  }

  /** A probe found a benched key working again. */
  restore(key: PooledKey): void {
    key.state = 'active';
    key.coolUntil = 0;
    key.strikes = 0;
    this.onChange?.(key.id, 'active', 0);
  }

  /** Whether any key could be handed out now or after a cool-down (none is benched for good). */
  hasUsable(): boolean {
    return this.keys.some((key) => key.state !== 'invalid');
  }

  succeeded(key: PooledKey): void {
    key.strikes = 0;
  }
}
