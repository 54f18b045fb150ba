import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyChecker, KeyPool, type KeyVerdict, SecretString } from '../../src/keys/index.js';

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
