import type { KeyPool, PooledKey } from './key-pool.js';
import type { SecretString } from './secret-string.js';

/** What a probe found out about a key: it works, the provider says it is invalid, or no telling. */
export type KeyVerdict = 'valid' | 'invalid' | 'unknown';

/** One request-independent check of a key with the provider (its model list, say). */
export type ProbeKey = (secret: SecretString) => Promise<KeyVerdict>;

export interface KeyCheckEvents {
  /** A probe confirmed the key invalid: it is out of rotation and rechecked in `recheckMs`. */
  benched(key: PooledKey, recheckMs: number): void;
  /** A benched key works again and is back in rotation. */
  restored(key: PooledKey): void;
}

/** A key's probe is reused for this long: a client repeating a refused request cannot make more. */
const PROBE_INTERVAL_MS = 30_000;
/** A benched key is probed again after this, doubling up to RECHECK_MAX_MS. */
const RECHECK_FIRST_MS = 30_000;
const RECHECK_MAX_MS = 5 * 60_000;

interface Health {
  inFlight?: Promise<KeyVerdict>;
  checkedAt: number;
  verdict: KeyVerdict;
  recheckMs: number;
  timer?: NodeJS.Timeout;
}

/**
 * Decides whether a refused key is benched. A provider's 401/403 to one request may be about that
 * request (a model, region or project the key lacks), so it only asks for a probe; the probe, a
 * call that depends on no client input, decides. At most one probe per key is in flight and one
 * per PROBE_INTERVAL_MS is started on clients' account, whatever they send; a benched key is
 * re-probed at 30 s, 1, 2, 4 and then every 5 minutes, and comes back by itself once it works.
 */
export class KeyChecker {
  private readonly health = new Map<string, Health>();
  private closed = false;

  constructor(
    private readonly pool: KeyPool,
    private readonly probe: ProbeKey,
    private readonly events: KeyCheckEvents,
    private readonly now: () => number = Date.now,
  ) {
    pool.onBenchedElsewhere = (key) => this.benchedElsewhere(key);
  }

  /**
   * The verdict on a key a provider refused: a fresh probe, the one in flight, or a recent one. A
   * benched key is invalid until its recheck is due; from then on it is probed like any other.
   */
  verify(key: PooledKey): Promise<KeyVerdict> {
    if (key.state === 'invalid' && key.coolUntil > this.now()) return Promise.resolve('invalid');
    const health = this.healthOf(key);
    if (health.inFlight) return health.inFlight;
    if (this.now() - health.checkedAt < PROBE_INTERVAL_MS) return Promise.resolve(health.verdict);
    return this.run(key, health);
  }

  close(): void {
    this.closed = true;
    if (this.pool.onBenchedElsewhere) this.pool.onBenchedElsewhere = undefined;
    for (const health of this.health.values()) clearTimeout(health.timer);
  }

  /**
   * Another process benched the key (its probe refused this same value) until `key.coolUntil`:
   * this one probes it then. Without it a key benched elsewhere (or read back from Redis after a
   * restart) stayed out here for good, since only a bench of this process's own armed a recheck.
   */
  private benchedElsewhere(key: PooledKey): void {
    if (this.closed) return;
    const health = this.healthOf(key);
    if (health.inFlight) return;
    this.schedule(key, health, Math.max(0, key.coolUntil - this.now()));
  }

  private healthOf(key: PooledKey): Health {
    const name = nameOf(key);
    let health = this.health.get(name);
    if (!health) {
      health = { checkedAt: Number.NEGATIVE_INFINITY, verdict: 'unknown', recheckMs: RECHECK_FIRST_MS };
      this.health.set(name, health);
    }
    return health;
  }

  private run(key: PooledKey, health: Health): Promise<KeyVerdict> {
    const probing = this.probe(key.secret)
      .catch((): KeyVerdict => 'unknown')
      .then((verdict) => {
        health.inFlight = undefined;
        health.checkedAt = this.now();
        health.verdict = verdict;
        this.apply(key, health, verdict);
        return verdict;
      });
    health.inFlight = probing;
    return probing;
  }

  private apply(probed: PooledKey, health: Health, verdict: KeyVerdict): void {
    // The pool may have been refreshed meanwhile: act on the key it holds now, if still the same.
    const key = this.pool.list().find((k) => nameOf(k) === nameOf(probed));
    if (!key || this.closed) {
      if (!key) this.health.delete(nameOf(probed));
      return;
    }
    if (verdict === 'valid') {
      health.recheckMs = RECHECK_FIRST_MS;
      if (key.state === 'invalid') {
        this.pool.restore(key);
        this.events.restored(key);
      }
      return;
    }
    if (verdict === 'invalid' && key.state !== 'invalid') {
      this.pool.bench(key, this.now() + health.recheckMs);
      this.events.benched(key, health.recheckMs);
    }
    if (key.state === 'invalid') this.recheck(key, health);
  }

  private recheck(key: PooledKey, health: Health): void {
    const wait = health.recheckMs;
    health.recheckMs = Math.min(wait * 2, RECHECK_MAX_MS);
    key.coolUntil = this.now() + wait;
    this.schedule(key, health, wait);
  }

  private schedule(key: PooledKey, health: Health, wait: number): void {
    clearTimeout(health.timer);
    health.timer = setTimeout(() => {
      health.timer = undefined;
      if (!this.closed) void this.run(key, health);
    }, wait);
    health.timer.unref();
  }
}

const nameOf = (key: PooledKey): string => `${key.id}\u0000${key.secret.fingerprint}`;
