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
    const told: Array<[string, string, number]> = [];
    pool.onChange = (id, state, until) => told.push([id, state, until]);
    pool.rateLimited(pool.list()[0]!, 5_000, 1_000);
    expect(told).toEqual([['k1', 'cooling', 6_000]]);
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
    pool.onChange = (...change) => told.push(change);
    pool.rateLimited(k1, undefined, 1_000, 'small');
    expect(told).toEqual([['k1', 'cooling', 2_000, 'small']]);
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
    expect(k1.models?.get('small')).toEqual({ until: 4_000, strikes: 2 });
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
