import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyChecker, KeyPool, type KeyVerdict, type PooledKey, SecretString } from '../../src/keys/index.js';

/** A provider whose answer to a probe the test decides; it records when it was asked. */
function provider(initial: KeyVerdict) {
  const asked: number[] = [];
  const state = { verdict: initial };
  const probe = async () => {
    asked.push(Date.now());
    return state.verdict;
  };
  return { asked, state, probe };
}

describe('KeyChecker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('benches a key a probe refuses, re-probes at 30 s doubling to 5 min, and restores it once it works', async () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') }]);
    const upstream = provider('invalid');
    const events: string[] = [];
    const checker = new KeyChecker(pool, upstream.probe, {
      benched: (key, ms) => events.push(`benched ${key.id} ${ms}`),
      restored: (key) => events.push(`restored ${key.id}`),
    });
    const [key] = pool.list();
    expect(await checker.verify(key!)).toBe('invalid');
    expect(pool.acquire()).toEqual({ exhausted: 'invalid' });
    expect(events).toEqual(['benched k1 30000']);

    await vi.advanceTimersByTimeAsync(30_000 + 60_000 + 120_000 + 240_000 + 300_000 + 300_000);
    expect(upstream.asked).toEqual([0, 30_000, 90_000, 210_000, 450_000, 750_000, 1_050_000]);
    // Still refused: benched once, alerted once.
    expect(events).toEqual(['benched k1 30000']);

    upstream.state.verdict = 'valid';
    await vi.advanceTimersByTimeAsync(300_000);
    expect(events).toEqual(['benched k1 30000', 'restored k1']);
    expect(pool.acquire().key?.id).toBe('k1');
    checker.close();
  });

  it('runs one probe per key at a time and reuses a verdict for 30 s', async () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') }]);
    const upstream = provider('valid');
    const checker = new KeyChecker(pool, upstream.probe, { benched() {}, restored() {} });
    const [key] = pool.list();
    const verdicts = await Promise.all(Array.from({ length: 50 }, () => checker.verify(key!)));
    expect(new Set(verdicts)).toEqual(new Set(['valid']));
    await vi.advanceTimersByTimeAsync(29_000);
    expect(await checker.verify(key!)).toBe('valid');
    expect(upstream.asked).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    await checker.verify(key!);
    expect(upstream.asked).toHaveLength(2);
    checker.close();
  });

  it('leaves a key in rotation when the probe tells nothing (a timeout, a 5xx)', async () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') }]);
    const checker = new KeyChecker(pool, async () => Promise.reject(new Error('timeout')), {
      benched() {},
      restored() {},
    });
    expect(await checker.verify(pool.list()[0]!)).toBe('unknown');
    expect(pool.acquire().key?.id).toBe('k1');
    checker.close();
  });
});

describe('KeyPool bookkeeping for the dashboard', () => {
  it('counts the requests each key is handed and remembers how the provider last refused it', () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') }]);
    const key = pool.list()[0]!;
    expect(key).toMatchObject({ requests: 0, lastFailure: null });
    pool.acquire(1_000);
    pool.acquire(1_001);
    expect(key.requests).toBe(2);
    pool.rateLimited(key, 5_000, 2_000);
    expect(key.lastFailure).toEqual({ kind: 'rate_limited', at: 2_000 });
    pool.bench(key, 60_000, 3_000);
    expect(key.lastFailure).toEqual({ kind: 'invalid', at: 3_000 });
    // A reload that keeps the same secret keeps the key's history.
    pool.replace([{ id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') }]);
    expect(pool.list()[0]).toMatchObject({ requests: 2, lastFailure: { kind: 'invalid' } });
  });
});

describe('KeyPool health shared between workers', () => {
  it('tells its own changes and applies others’ without telling them again', () => {
    const pool = new KeyPool([
      { id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') },
      { id: 'k2', secret: new SecretString('sk-two-0123456789abcdef') },
    ]);
    const told: unknown[] = [];
    pool.onChange = (change) => told.push(change);
    pool.rateLimited(pool.list()[0]!, 5_000, 1_000);
    expect(told).toEqual([
      {
        keyId: 'k1',
        state: 'cooling',
        until: 6_000,
        model: undefined,
        fingerprint: pool.list()[0]!.secret.fingerprint,
      },
    ]);
    pool.apply('k2', 'cooling', 9_000, 1_000);
    expect(told).toHaveLength(1);
    expect(pool.acquire(2_000)).toEqual({ exhausted: 'cooling', retryAfterMs: 4_000 });
    pool.apply('k1', 'active', 0);
    expect(pool.acquire(2_000).key?.id).toBe('k1');
    pool.apply('unknown', 'invalid', 0);
  });
});

describe('KeyPool cool-downs per model', () => {
  const twoKeys = () =>
    new KeyPool([
      { id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') },
      { id: 'k2', secret: new SecretString('sk-two-0123456789abcdef') },
    ]);

  it("keeps a key rate limited for one model serving the others, and doubles that model's cool-down per strike", () => {
    const pool = twoKeys();
    const [k1, k2] = pool.list() as [PooledKey, PooledKey];
    const told: unknown[] = [];
    pool.onChange = (change) => told.push(change);
    pool.rateLimited(k1, undefined, 1_000, 'small');
    expect(told).toEqual([
      { keyId: 'k1', state: 'cooling', until: 2_000, model: 'small', fingerprint: k1.secret.fingerprint },
    ]);
    expect(k1.state).toBe('active');
    for (let i = 0; i < 3; i++) expect(pool.acquire(1_500, 'small').key).toBe(k2);
    expect(new Set([1, 2, 3, 4].map(() => pool.acquire(1_500, 'large').key?.id))).toEqual(
      new Set(['k1', 'k2']),
    );
    expect(pool.acquire(1_500).key).toBeDefined();

    pool.rateLimited(k2, 30_000, 1_500, 'small');
    expect(pool.acquire(1_600, 'small')).toEqual({ exhausted: 'cooling', retryAfterMs: 400 });
    expect(pool.acquire(1_600, 'large').key).toBeDefined();
    expect(pool.coolingModels(k2, 1_600)).toEqual([{ model: 'small', until: 31_500 }]);

    // A second strike without Retry-After doubles, as for the key; a success after it starts over.
    expect(pool.acquire(2_000, 'small').key).toBe(k1);
    pool.rateLimited(k1, undefined, 2_000, 'small');
    expect(k1.models?.get('small')).toEqual({ until: 4_000, since: 2_000, strikes: 2 });
    pool.succeeded(k1, 'small', 3_000);
    expect(k1.models?.get('small')?.strikes).toBe(2);
    pool.succeeded(k1, 'small', 4_000);
    expect(k1.models?.has('small')).toBe(false);
  });

  it('applies a cool-down for one model told by another process, and keeps at most 256 models a key', () => {
    const pool = twoKeys();
    const k1 = pool.list()[0]!;
    pool.apply('k1', 'cooling', 9_000, 1_000, 'small');
    expect(pool.coolingModels(k1, 1_000)).toEqual([{ model: 'small', until: 9_000 }]);
    expect(pool.acquire(1_000, 'small').key?.id).toBe('k2');
    pool.apply('k1', 'active', 0, 1_000, 'small');
    expect(pool.coolingModels(k1, 1_000)).toEqual([]);

    for (let i = 0; i < 300; i++) pool.rateLimited(k1, 60_000 + i, 1_000, `model-${i}`);
    expect(k1.models?.size).toBe(256);
    // The ones ending first made room; the latest are all kept.
    expect(k1.models?.has('model-299')).toBe(true);
    expect(k1.models?.has('model-0')).toBe(false);
    expect(pool.acquire(1_000, 'model-299').key?.id).toBe('k2');
  });
});

describe('KeyPool cool-downs across a wall clock stepped back', () => {
  const T = Date.UTC(2026, 11, 7, 4, 0, 0);
  const STEP = 10 * 60_000;
  const oneKey = () => new KeyPool([{ id: 'k1', secret: new SecretString('sk-one-0123456789abcdef') }]);

  it("ends a key's cool-down, its own or told by another process, when the clock goes back before it began", () => {
    const pool = oneKey();
    const k1 = pool.list()[0]!;
    pool.rateLimited(k1, 5_000, T);
    expect(pool.acquire(T + 1_000)).toEqual({ exhausted: 'cooling', retryAfterMs: 4_000 });
    // Stepped back 10 min one second in: the 5 s Retry-After had kept the key out for 10 min.
    expect(pool.acquire(T + 1_000 - STEP).key).toBe(k1);
    expect(pool.coolingFor(k1, T + 1_000 - STEP)).toBe(0);

    // A 429 after the step cools it for its own Retry-After from then.
    pool.rateLimited(k1, 5_000, T + 2_000 - STEP);
    expect(pool.acquire(T + 3_000 - STEP)).toEqual({ exhausted: 'cooling', retryAfterMs: 4_000 });
    expect(pool.acquire(T + 7_000 - STEP).key).toBe(k1);

    const other = oneKey();
    other.apply('k1', 'cooling', T + 5_000, T, undefined, k1.secret.fingerprint);
    expect(other.acquire(T + 1_000).key).toBeUndefined();
    expect(other.acquire(T + 1_000 - STEP).key?.id).toBe('k1');
  });

  it("ends a model's cool-down the same way", () => {
    const pool = oneKey();
    const k1 = pool.list()[0]!;
    pool.rateLimited(k1, 5_000, T, 'small');
    expect(pool.acquire(T + 1_000, 'small')).toEqual({ exhausted: 'cooling', retryAfterMs: 4_000 });
    expect(pool.acquire(T + 1_000 - STEP, 'small').key).toBe(k1);
    expect(pool.coolingModels(k1, T + 1_000 - STEP)).toEqual([]);

    pool.apply('k1', 'cooling', T + 5_000, T, 'large', k1.secret.fingerprint);
    expect(pool.acquire(T + 1_000, 'large').key).toBeUndefined();
    expect(pool.acquire(T + 1_000 - STEP, 'large').key).toBe(k1);
  });

  it('keeps a cool-down no longer than the cap, whatever a note from another process says', () => {
    const pool = oneKey();
    pool.apply('k1', 'cooling', T + 30 * 86_400_000, T);
    expect(pool.acquire(T + 3_600_000 - 1).key).toBeUndefined();
    expect(pool.acquire(T + 3_600_000).key?.id).toBe('k1');
  });
});

describe('KeyPool notes name a key by id and value', () => {
  const OLD = 'sk-old-value-0123456789abcdef';
  const NEW = 'sk-new-value-0123456789abcdef';
  const fingerprint = (value: string) => new SecretString(value).fingerprint;

  it('ignores a note about another value of the same id (a rotation seen late elsewhere)', () => {
    // This process loaded the new value of env:POOL#1; another had not yet, and its probe of the
    // old, revoked value benched it there. Its note must not bench the new value here.
    const pool = new KeyPool([{ id: 'env:POOL#1', secret: new SecretString(NEW) }]);
    pool.apply('env:POOL#1', 'invalid', 60_000, 1_000, undefined, fingerprint(OLD));
    pool.apply('env:POOL#1', 'cooling', 60_000, 1_000, undefined, fingerprint(OLD));
    pool.apply('env:POOL#1', 'cooling', 60_000, 1_000, 'gpt-4o', fingerprint(OLD));
    const key = pool.list()[0]!;
    expect(key).toMatchObject({ state: 'active', coolUntil: 0, lastFailure: null });
    expect(pool.coolingModels(key, 1_000)).toEqual([]);
    pool.apply('env:POOL#1', 'invalid', 60_000, 1_000, undefined, fingerprint(NEW));
    expect(key).toMatchObject({ state: 'invalid', coolUntil: 60_000 });
  });

  it('takes a note without a value (an older version) as a cool-down at most, never a bench', () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString(NEW) }]);
    pool.apply('k1', 'invalid', 9_000, 1_000);
    expect(pool.list()[0]).toMatchObject({ state: 'cooling', coolUntil: 9_000 });
    expect(pool.acquire(2_000)).toEqual({ exhausted: 'cooling', retryAfterMs: 7_000 });
    expect(pool.acquire(9_000).key?.id).toBe('k1');

    // Nor does such a note's 'active' end a bench of this process's own.
    pool.bench(pool.list()[0]!, 60_000, 10_000);
    pool.apply('k1', 'active', 0, 11_000);
    expect(pool.list()[0]!.state).toBe('invalid');
  });

  it('puts a rate limit or a bench on the key the pool holds now, after a refresh that kept its value', () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString(OLD) }]);
    const held = pool.acquire(1_000).key!;
    pool.replace([{ id: 'k1', secret: new SecretString(OLD) }]);
    expect(pool.list()[0]).not.toBe(held);
    pool.rateLimited(held, 30_000, 1_000);
    expect(pool.list()[0]).toMatchObject({ state: 'cooling', coolUntil: 31_000 });
    expect(pool.acquire(2_000)).toEqual({ exhausted: 'cooling', retryAfterMs: 29_000 });

    // A refresh that changed the value: what the old value earned is not the new one's.
    const stale = pool.list()[0]!;
    pool.replace([{ id: 'k1', secret: new SecretString(NEW) }]);
    pool.rateLimited(stale, 30_000, 2_000);
    pool.bench(stale, 60_000, 2_000);
    expect(pool.list()[0]).toMatchObject({ state: 'active', coolUntil: 0 });
  });
});

describe('KeyChecker and keys benched by another process', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const VALUE = 'sk-one-0123456789abcdef';

  it('probes a key benched elsewhere once the note runs out, and restores it here when it works', async () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString(VALUE) }]);
    const upstream = provider('valid');
    const events: string[] = [];
    const told: unknown[] = [];
    pool.onChange = (change) => told.push(change);
    const checker = new KeyChecker(pool, upstream.probe, {
      benched: (key) => events.push(`benched ${key.id}`),
      restored: (key) => events.push(`restored ${key.id}`),
    });
    const fingerprint = pool.list()[0]!.secret.fingerprint;
    pool.apply('k1', 'invalid', 60_000, 0, undefined, fingerprint);
    expect(pool.acquire(1_000)).toEqual({ exhausted: 'invalid' });
    // Until the note's end, a client's refusal gets the bench, not a probe.
    expect(await checker.verify(pool.list()[0]!)).toBe('invalid');
    expect(upstream.asked).toEqual([]);

    await vi.advanceTimersByTimeAsync(60_000);
    expect(upstream.asked).toEqual([60_000]);
    expect(events).toEqual(['restored k1']);
    expect(told).toEqual([{ keyId: 'k1', state: 'active', until: 0, model: undefined, fingerprint }]);
    expect(pool.acquire(60_000).key?.id).toBe('k1');
    checker.close();
  });

  it('keeps re-probing a key benched elsewhere that stays refused, without alerting again; a note lasts 5 min at most', async () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString(VALUE) }]);
    const upstream = provider('invalid');
    const events: string[] = [];
    const checker = new KeyChecker(pool, upstream.probe, {
      benched: (key) => events.push(`benched ${key.id}`),
      restored: (key) => events.push(`restored ${key.id}`),
    });
    // A note naming a bench of ten hours (from Redis, say) keeps the key out for five minutes.
    pool.apply('k1', 'invalid', 36_000_000, 0, undefined, pool.list()[0]!.secret.fingerprint);
    await vi.advanceTimersByTimeAsync(300_000 + 30_000 + 60_000);
    expect(upstream.asked).toEqual([300_000, 330_000, 390_000]);
    expect(events).toEqual([]);
    expect(pool.acquire(390_000)).toEqual({ exhausted: 'invalid' });

    upstream.state.verdict = 'valid';
    await vi.advanceTimersByTimeAsync(120_000);
    expect(events).toEqual(['restored k1']);
    checker.close();
  });

  it('probes a benched key a refused request asks about once its recheck is due', async () => {
    const pool = new KeyPool([{ id: 'k1', secret: new SecretString(VALUE) }]);
    const upstream = provider('valid');
    const checker = new KeyChecker(pool, upstream.probe, { benched() {}, restored() {} });
    const key = pool.list()[0]!;
    // A bench with no recheck armed here (the hook unset): once its end has passed, a refused
    // request's verdict is a probe's, not the bench's.
    pool.onBenchedElsewhere = undefined;
    pool.apply('k1', 'invalid', 10_000, 0, undefined, key.secret.fingerprint);
    vi.setSystemTime(10_000);
    expect(await checker.verify(key)).toBe('valid');
    expect(upstream.asked).toEqual([10_000]);
    expect(key.state).toBe('active');
    checker.close();
  });
});
