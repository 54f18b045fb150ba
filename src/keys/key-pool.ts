import type { SecretString } from './secret-string.js';
import type { SourcedKey } from './sources/types.js';

export type KeyState = 'active' | 'cooling' | 'invalid';

/** A change of a key's health, as a pool tells it to the processes that share its keys. */
export interface KeyStateChange {
  keyId: string;
  state: KeyState;
  until: number;
  /** Set when the state is the key's for this model alone. */
  model: string | undefined;
  /** The fingerprint of the key's value: key ids are positional, a change is about one value. */
  fingerprint: string;
}

/** One key in a pool, with its health. Requests hold on to the lease they started with. */
export interface PooledKey {
  readonly id: string;
  readonly secret: SecretString;
  readonly weight: number;
  readonly createdAt: number | undefined;
  /**
   * Epoch ms from which the key is not handed out (its source's expiry): between two refreshes, the
   * second of which drops it, a key past its expiry would otherwise still serve.
   */
  readonly expiresAt: number | undefined;
  state: KeyState;
  /** Epoch ms when a cooling key may be used again. */
  coolUntil: number;
  /** Epoch ms when `coolUntil` was set: a clock stepped back before it ends the cool-down (`holds`). */
  coolSince: number;
  /** Consecutive 429s without a Retry-After, for the exponential cool-down. */
  strikes: number;
  /** Smooth weighted round-robin credit. */
  credit: number;
  /** Requests handed this key since it was loaded. */
  requests: number;
  /** The last time the provider refused it, and how: for the dashboard. */
  lastFailure: { kind: 'rate_limited' | 'invalid'; at: number } | null;
  /**
   * The models this key is cooling for, apart from the key itself: providers limit each model
   * apart, so a 429 for one model says nothing of the key's others. Created at the first one.
   */
  models: Map<string, ModelCooling> | undefined;
}

/** A key's cool-down for one model. */
export interface ModelCooling {
  until: number;
  /** When `until` was set. */
  since: number;
  strikes: number;
}

/**
 * Why no key: `invalid` when the provider refused every one, `expired` when some are past their
 * source's expiry and the others refused (the provider refused nothing then), `empty` for none.
 */
export type Acquired =
  | { key: PooledKey }
  | { key?: undefined; exhausted: 'cooling'; retryAfterMs: number }
  | { key?: undefined; exhausted: 'invalid' | 'expired' | 'empty' };

/** Whether `key` is past its source's expiry at `now`: it is not handed out, whatever its health. */
export function isExpired(key: Pick<PooledKey, 'expiresAt'>, now: number = Date.now()): boolean {
  return key.expiresAt !== undefined && now >= key.expiresAt;
}

const BASE_COOL_DOWN_MS = 1_000;
const MAX_COOL_DOWN_MS = 60_000;
/** A provider cannot bench a key for longer than this with one Retry-After. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/**
 * The longest a key is out for a model whose per-day quota it spent (`quotaSpent`): until the
 * quota resets, which is never further than a day away (25 h: a day that ends daylight saving).
 */
export const MAX_QUOTA_DAY_MS = 25 * 3_600_000;
/**
 * Longest a bench told by another process keeps a key out before this one probes it itself: the
 * benching process re-probes at most this far apart (`KeyChecker`), and says when in its note.
 */
const MAX_REMOTE_BENCH_MS = 5 * 60_000;
/**
 * Models one key keeps cool-downs for. Routing names the models a provider is asked for, so a
 * pool rarely holds more than a few; the cap keeps an unbounded route from growing it.
 */
const MAX_COOLING_MODELS = 256;

/**
 * Whether a cool-down set at `since` to end at `until` (both epoch ms, the wall clock that notes
 * between processes and instances carry) still holds at `now`. A clock stepped back before `since`
 * ends it: how long the key has really been out is unknown, and waiting for the wall clock to reach
 * `until` again kept it out for the size of the step, past its Retry-After and the cap. A key let
 * back early is at worst refused once more and cools again; a step forward ends a cool-down early
 * the same way.
 */
const holds = (since: number, until: number, now: number): boolean => since <= now && now < until;

/**
 * The keys of one provider and their health. Picks among usable keys by smooth weighted
 * round-robin (plain round-robin when weights are equal); a key rate limited for a model cools
 * down for that model, one whose account is spent cools down for all; one a probe confirmed
 * invalid is benched until it is replaced or a later probe restores it (`KeyChecker`): no client
 * request ever puts a benched key back in rotation. A bench told by another process lasts until
 * the end its note gives (five minutes at most); then this process's own probe decides.
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
        return {
          ...old,
          secret: sourced.secret,
          weight: sourced.weight ?? 1,
          createdAt: sourced.createdAt,
          expiresAt: sourced.expiresAt,
        };
      }
      return {
        id: sourced.id,
        secret: sourced.secret,
        weight: sourced.weight ?? 1,
        createdAt: sourced.createdAt,
        expiresAt: sourced.expiresAt,
        state: 'active',
        coolUntil: 0,
        coolSince: 0,
        strikes: 0,
        credit: 0,
        requests: 0,
        lastFailure: null,
        models: undefined,
      };
    });
  }

  list(): readonly PooledKey[] {
    return this.keys;
  }

  /** A key for a request to `model` (none: any model), or why there is none. */
  acquire(now: number = Date.now(), model?: string): Acquired {
    let best: PooledKey | undefined;
    let total = 0;
    let earliest = Number.POSITIVE_INFINITY;
    let expired = false;
    for (const key of this.keys) {
      if (isExpired(key, now)) {
        expired = true;
        continue;
      }
      if (key.state === 'invalid') continue;
      if (key.state !== 'active') {
        if (holds(key.coolSince, key.coolUntil, now)) {
          if (key.state === 'cooling') earliest = Math.min(earliest, key.coolUntil);
          continue;
        }
        key.state = 'active';
      }
      const cooling = model === undefined ? undefined : key.models?.get(model);
      if (cooling && holds(cooling.since, cooling.until, now)) {
        earliest = Math.min(earliest, cooling.until);
        continue;
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
    if (earliest === Number.POSITIVE_INFINITY) return { exhausted: expired ? 'expired' : 'invalid' };
    return { exhausted: 'cooling', retryAfterMs: earliest - now };
  }

  /**
   * Told of every change of a key's health this pool makes itself (not of those `apply` brings
   * from elsewhere): the workers of one machine share them, so that none keeps using a key another
   * found rate limited or refused.
   */
  onChange: ((change: KeyStateChange) => void) | undefined;

  /**
   * Told when a note from another process benches a key here (`KeyChecker` probes it once the
   * note runs out: a bench told from elsewhere lasts until its end, not until a probe here).
   */
  onBenchedElsewhere: ((key: PooledKey) => void) | undefined;

  /**
   * A change of a key's health another process saw, for one model when it names one. The note
   * names the key by id and fingerprint: ids are positional (`env:NAME#1`), so a process that has
   * not yet loaded a rotated value would otherwise mark the new value with what it saw of the old.
   * A note for another value, or an unknown id, is ignored. A note without a fingerprint (from a
   * version before it was sent, during a rolling upgrade) cannot tell which value it is about: its
   * cool-downs apply as before, since they end by themselves; its bench applies as a cool-down
   * only, and its 'active' ends a cool-down but never a bench.
   */
  apply(
    keyId: string,
    state: KeyState,
    until: number,
    now: number = Date.now(),
    model?: string,
    fingerprint?: string,
  ): void {
    const key = this.keys.find(
      (candidate) =>
        candidate.id === keyId && (fingerprint === undefined || candidate.secret.fingerprint === fingerprint),
    );
    if (!key) return;
    if (model !== undefined) {
      if (state === 'active') key.models?.delete(model);
      else if (state === 'cooling') {
        // A model's cool-down may be a per-day quota's, which lasts until the quota resets.
        coolModel(this.modelCooling(key, model, now), Math.min(until, now + MAX_QUOTA_DAY_MS), now);
        key.lastFailure = { kind: 'rate_limited', at: now };
      }
      return;
    }
    if (fingerprint === undefined && state === 'invalid') state = 'cooling';
    if (state === 'active') {
      if (key.state === 'invalid' && fingerprint === undefined) return;
      key.state = 'active';
      key.coolUntil = 0;
      key.strikes = 0;
      return;
    }
    if (state === 'invalid') {
      key.state = 'invalid';
      coolKey(key, Math.min(until, now + MAX_REMOTE_BENCH_MS), now);
      key.lastFailure = { kind: 'invalid', at: now };
      this.onBenchedElsewhere?.(key);
      return;
    }
    if (key.state !== 'invalid') key.state = state;
    coolKey(key, Math.min(until, now + MAX_RETRY_AFTER_MS), now);
    key.lastFailure = { kind: 'rate_limited', at: now };
  }

  /**
   * The key of this pool `key` stands for: itself, or after a refresh that kept its value the
   * object that took its place (a request holds the key it started with; a change made to a key
   * the pool no longer holds would be lost). Undefined when its value is gone from the pool.
   */
  private tell(key: PooledKey, state: KeyState, until: number, model?: string): void {
    this.onChange?.({ keyId: key.id, state, until, model, fingerprint: key.secret.fingerprint });
  }

  private current(key: PooledKey): PooledKey | undefined {
    if (this.keys.includes(key)) return key;
    return this.keys.find(
      (candidate) => candidate.id === key.id && candidate.secret.fingerprint === key.secret.fingerprint,
    );
  }

  /**
   * The provider answered 429 for this key: for `model` alone when the limit is the model's, for
   * every model when it is the key's own (its account is out of credit).
   */
  rateLimited(
    held: PooledKey,
    retryAfterMs: number | undefined,
    now: number = Date.now(),
    model?: string,
  ): void {
    const key = this.current(held);
    if (!key) return;
    key.lastFailure = { kind: 'rate_limited', at: now };
    if (model !== undefined) {
      const cooling = this.modelCooling(key, model, now);
      cooling.strikes += 1;
      coolModel(cooling, now + coolDown(retryAfterMs, cooling.strikes), now);
      this.tell(key, 'cooling', cooling.until, model);
      return;
    }
    key.strikes += 1;
    if (key.state !== 'invalid') key.state = 'cooling';
    coolKey(key, now + coolDown(retryAfterMs, key.strikes), now);
    this.tell(key, 'cooling', key.coolUntil);
  }

  /**
   * The provider said the key's per-day quota for `model` is spent: the key is out for the model
   * until the quota resets (`until`, a day away at most), not for a back-off that would try it
   * again every minute all day. Its strikes are left as they are: they count short cool-downs.
   */
  quotaSpent(held: PooledKey, model: string, until: number, now: number = Date.now()): void {
    const key = this.current(held);
    if (!key) return;
    key.lastFailure = { kind: 'rate_limited', at: now };
    const cooling = this.modelCooling(key, model, now);
    coolModel(cooling, Math.min(until, now + MAX_QUOTA_DAY_MS), now);
    this.tell(key, 'cooling', cooling.until, model);
  }

  /** How long a cooling `key` stays out for every model, 0 when it does not. */
  coolingFor(key: PooledKey, now: number = Date.now()): number {
    return key.state === 'cooling' && holds(key.coolSince, key.coolUntil, now) ? key.coolUntil - now : 0;
  }

  /** The models `key` is cooling for now, with when each may be used again. */
  coolingModels(key: PooledKey, now: number = Date.now()): Array<{ model: string; until: number }> {
    const cooling: Array<{ model: string; until: number }> = [];
    for (const [model, { until, since }] of key.models ?? [])
      if (holds(since, until, now)) cooling.push({ model, until });
    return cooling;
  }

  /** The key's cool-down record for `model`, made room for when the key holds too many. */
  private modelCooling(key: PooledKey, model: string, now: number): ModelCooling {
    key.models ??= new Map();
    let cooling = key.models.get(model);
    if (cooling) return cooling;
    if (key.models.size >= MAX_COOLING_MODELS) {
      for (const [name, { until, since }] of key.models)
        if (!holds(since, until, now)) key.models.delete(name);
      // Still full: the one that ends first goes, never the key's other models.
      if (key.models.size >= MAX_COOLING_MODELS) {
        let first: string | undefined;
        let firstUntil = Number.POSITIVE_INFINITY;
        for (const [name, { until }] of key.models) {
          if (until < firstUntil) [first, firstUntil] = [name, until];
        }
        if (first !== undefined) key.models.delete(first);
      }
    }
    cooling = { until: 0, since: 0, strikes: 0 };
    key.models.set(model, cooling);
    return cooling;
  }

  /** A probe confirmed that the provider refuses this key: out until replaced or restored. */
  bench(held: PooledKey, recheckAt: number, now: number = Date.now()): void {
    const key = this.current(held);
    if (!key) return;
    key.state = 'invalid';
    key.coolUntil = recheckAt;
    key.coolSince = now;
    key.lastFailure = { kind: 'invalid', at: now };
    this.tell(key, 'invalid', recheckAt);
  }

  /** A probe found a benched key working again. */
  restore(held: PooledKey): void {
    const key = this.current(held);
    if (!key) return;
    key.state = 'active';
    key.coolUntil = 0;
    key.strikes = 0;
    this.tell(key, 'active', 0);
  }

  /** Whether any key could be handed out now or after a cool-down (not benched, not expired). */
  hasUsable(now: number = Date.now()): boolean {
    return this.keys.some((key) => key.state !== 'invalid' && !isExpired(key, now));
  }

  /** The provider served a request to `model` with this key: its strikes for it start over. */
  succeeded(held: PooledKey, model?: string, now: number = Date.now()): void {
    const key = this.current(held);
    if (!key) return;
    key.strikes = 0;
    const cooling = model === undefined ? undefined : key.models?.get(model);
    // A request sent before the key cooled may succeed after: that ends no cool-down.
    if (cooling && !holds(cooling.since, cooling.until, now)) key.models?.delete(model as string);
  }
}

/**
 * Cools the key until `until`, unless a cool-down that holds ends later. One that no longer holds
 * (a clock stepped back before it was set) is replaced, not extended from.
 */
function coolKey(key: PooledKey, until: number, now: number): void {
  if (holds(key.coolSince, key.coolUntil, now) && key.coolUntil >= until) return;
  key.coolSince = now;
  key.coolUntil = until;
}

/** The same for one model's cool-down. */
function coolModel(cooling: ModelCooling, until: number, now: number): void {
  if (holds(cooling.since, cooling.until, now) && cooling.until >= until) return;
  cooling.since = now;
  cooling.until = until;
}

/** How long a 429 keeps a key out: its Retry-After, else 1 s doubling with each strike to 60 s. */
function coolDown(retryAfterMs: number | undefined, strikes: number): number {
  return retryAfterMs !== undefined
    ? Math.min(Math.max(retryAfterMs, 0), MAX_RETRY_AFTER_MS)
    : Math.min(BASE_COOL_DOWN_MS * 2 ** (strikes - 1), MAX_COOL_DOWN_MS);
}
