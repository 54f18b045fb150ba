import { describe, expect, it, vi } from 'vitest';
import { createMemoryLimiter, type Limiter } from '../../src/limits/index.js';
import { leaseOf, MINUTE, request } from '../support/limit-requests.js';

/** A limiter on a clock the test moves by hand. */
function setup(spentBefore: (key: string) => Promise<number> = async () => 0) {
  const clock = { now: 1_700_000_000_000 };
  const limiter: Limiter = createMemoryLimiter({ spentBefore, now: () => clock.now });
  return { clock, limiter };
}

describe('memory limiter', () => {
  it('lets exactly the limit through when 200 requests arrive at once', async () => {
    const { limiter } = setup();
    const rule = { key: 'rpm:a', kind: 'requests', limit: 10, windowMs: MINUTE } as const;
    const results = await Promise.all(
      Array.from({ length: 200 }, () => limiter.acquire(request({ rates: [rule] }))),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    const denied = results.find((r) => !r.allowed);
    expect(denied).toMatchObject({ allowed: false, denial: { kind: 'requests', key: 'rpm:a' } });
    expect(denied?.requests).toMatchObject({ limit: 10, remaining: 0 });
  });

  it('refills continuously over the window', async () => {
    const { clock, limiter } = setup();
    const rates = [{ key: 'rpm:b', kind: 'requests', limit: 10, windowMs: MINUTE }] as const;
    for (let i = 0; i < 10; i++) expect((await limiter.acquire(request({ rates }))).allowed).toBe(true);
    const denied = await limiter.acquire(request({ rates }));
    expect(denied).toMatchObject({ allowed: false, denial: { retryAfterMs: 6_000 } });

    clock.now += 6_000;
    const one = await limiter.acquire(request({ rates }));
    expect(one).toMatchObject({ allowed: true, requests: { limit: 10, remaining: 0, resetMs: MINUTE } });
    expect((await limiter.acquire(request({ rates }))).allowed).toBe(false);

    clock.now += MINUTE;
    const status = await limiter.status(rates, [], []);
    expect(status.rates[0]).toMatchObject({ remaining: 10, resetMs: 0 });
  });

  it('refills within a window of a clock stepped back, and gives no more than the limit for it', async () => {
    const { clock, limiter } = setup();
    const rates = [{ key: 'rpm:step', kind: 'requests', limit: 10, windowMs: MINUTE }] as const;
    for (let i = 0; i < 10; i++) expect((await limiter.acquire(request({ rates }))).allowed).toBe(true);
    clock.now -= 10 * MINUTE;
    const denied = await limiter.acquire(request({ rates }));
    expect(denied).toMatchObject({ allowed: false, denial: { retryAfterMs: 6_000 } });
    clock.now += 6_000;
    expect((await limiter.acquire(request({ rates }))).allowed).toBe(true);
    expect((await limiter.acquire(request({ rates }))).allowed).toBe(false);
    clock.now += MINUTE;
    expect((await limiter.status(rates, [], [])).rates[0]).toMatchObject({ remaining: 10, resetMs: 0 });
  });

  it('reserves estimated tokens, refunds the unused part and debits the overrun', async () => {
    const { limiter } = setup();
    const rates = [{ key: 'tpm:c', kind: 'tokens', limit: 1_000, windowMs: MINUTE }] as const;
    const first = await limiter.acquire(request({ rates, tokenEstimate: 400 }));
    expect(first.tokens).toMatchObject({ remaining: 600 });
    await limiter.settle(leaseOf(first), 100, 0);
    expect((await limiter.status(rates, [], [])).rates[0]?.remaining).toBe(900);
    // Settling twice changes nothing.
    await limiter.settle(leaseOf(first), 100, 0);
    expect((await limiter.status(rates, [], [])).rates[0]?.remaining).toBe(900);

    const second = await limiter.acquire(request({ rates, tokenEstimate: 100 }));
    await limiter.settle(leaseOf(second), 1_900, 0);
    // 900 - 1900 = -1000: the bucket is in debt, and a small request waits for it to clear.
    expect((await limiter.status(rates, [], [])).rates[0]).toMatchObject({
      remaining: 0,
      resetMs: 2 * MINUTE,
    });
    const denied = await limiter.acquire(request({ rates, tokenEstimate: 10 }));
    expect(denied).toMatchObject({ allowed: false, denial: { kind: 'tokens', retryAfterMs: 60_600 } });
  });

  it('lets a request bigger than the whole bucket through only when it is full', async () => {
    const { clock, limiter } = setup();
    const rates = [{ key: 'tpm:big', kind: 'tokens', limit: 100, windowMs: MINUTE }] as const;
    const big = await limiter.acquire(request({ rates, tokenEstimate: 150 }));
    expect(big.allowed).toBe(true);
    const again = await limiter.acquire(request({ rates, tokenEstimate: 150 }));
    expect(again).toMatchObject({ allowed: false, denial: { retryAfterMs: 90_000 } });
    clock.now += 90_000;
    expect((await limiter.acquire(request({ rates, tokenEstimate: 150 }))).allowed).toBe(true);
  });

  it('frees concurrency slots on settle and when a lease lapses', async () => {
    const { clock, limiter } = setup();
    const concurrency = [{ key: 'conc:d', limit: 2 }];
    const a = leaseOf(await limiter.acquire(request({ concurrency, leaseMs: 10_000 })));
    leaseOf(await limiter.acquire(request({ concurrency, leaseMs: 10_000 })));
    const full = await limiter.acquire(request({ concurrency }));
    expect(full).toMatchObject({ allowed: false, denial: { kind: 'concurrency', key: 'conc:d' } });
    expect((await limiter.status([], concurrency, [])).concurrency[0]?.inUse).toBe(2);

    await limiter.settle(a, 0, 0);
    await limiter.settle(a, 0, 0);
    leaseOf(await limiter.acquire(request({ concurrency, leaseMs: 10_000 })));
    expect((await limiter.acquire(request({ concurrency }))).allowed).toBe(false);

    clock.now += 10_000;
    expect((await limiter.status([], concurrency, [])).concurrency[0]?.inUse).toBe(0);
    expect((await limiter.acquire(request({ concurrency }))).allowed).toBe(true);
  });

  it('takes nothing from any rule when one rule denies', async () => {
    const { limiter } = setup(async () => 990);
    const rates = [
      { key: 'rpm:e', kind: 'requests', limit: 5, windowMs: MINUTE },
      { key: 'tpm:e', kind: 'tokens', limit: 1_000, windowMs: MINUTE },
    ] as const;
    const concurrency = [{ key: 'conc:e', limit: 1 }];
    const budgets = [{ key: 'budget:e:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const held = leaseOf(await limiter.acquire(request({ concurrency })));

    const byConcurrency = await limiter.acquire(request({ rates, concurrency, tokenEstimate: 300 }));
    expect(byConcurrency).toMatchObject({ allowed: false, denial: { kind: 'concurrency' } });
    const byBudget = await limiter.acquire(
      request({ rates, budgets, tokenEstimate: 300, costEstimateMicros: 20 }),
    );
    expect(byBudget).toMatchObject({ allowed: false, denial: { kind: 'budget', key: 'budget:e:2026-11' } });
    expect(byBudget.requests).toMatchObject({ remaining: 5 });
    expect(byBudget.tokens).toMatchObject({ remaining: 1_000 });

    const status = await limiter.status(rates, concurrency, budgets);
    expect(status.rates.map((r) => r.remaining)).toEqual([5, 1_000]);
    expect(status.concurrency[0]?.inUse).toBe(1);
    expect(status.budgets[0]).toMatchObject({ spentMicros: 990, reservedMicros: 0 });

    await limiter.settle(held, 0, 0);
    const allowed = await limiter.acquire(
      request({ rates, concurrency, budgets, tokenEstimate: 300, costEstimateMicros: 10 }),
    );
    expect(allowed).toMatchObject({ allowed: true, requests: { remaining: 4 }, tokens: { remaining: 700 } });
  });

  it('never lets concurrent reservations pass a budget, and loads the earlier spend once', async () => {
    const spentBefore = vi.fn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 100;
    });
    const { limiter } = setup(spentBefore);
    const budgets = [{ key: 'budget:f:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const results = await Promise.all(
      Array.from({ length: 50 }, () => limiter.acquire(request({ budgets, costEstimateMicros: 30 }))),
    );
    const allowed = results.filter((r) => r.allowed);
    expect(allowed).toHaveLength(30);
    expect(spentBefore).toHaveBeenCalledTimes(1);
    const status = await limiter.status([], [], budgets);
    expect(status.budgets[0]).toMatchObject({ spentMicros: 100, reservedMicros: 900 });

    // Settling replaces each reservation by the actual cost.
    for (const result of allowed) await limiter.settle(leaseOf(result), 0, 20);
    const after = await limiter.status([], [], budgets);
    expect(after.budgets[0]).toMatchObject({ spentMicros: 700, reservedMicros: 0 });
    expect(spentBefore).toHaveBeenCalledTimes(1);
  });

  it('drops a lapsed budget reservation and says how long a spent budget stays spent', async () => {
    const { clock, limiter } = setup(async () => 0);
    const budgets = [{ key: 'budget:g', limitMicros: 100, ttlMs: 10 * MINUTE }];
    // Larger than the whole budget, none of it spent: the request's size refuses it.
    expect(await limiter.acquire(request({ budgets, costEstimateMicros: 101 }))).toMatchObject({
      allowed: false,
      denial: { kind: 'budget', spent: true, oversized: true },
    });
    leaseOf(await limiter.acquire(request({ budgets, costEstimateMicros: 100, leaseMs: 1_000 })));
    const held = await limiter.acquire(request({ budgets, costEstimateMicros: 1 }));
    expect(held).toMatchObject({
      allowed: false,
      denial: { kind: 'budget', retryAfterMs: 1_000, spent: false },
    });
    clock.now += 1_000;
    const lease = leaseOf(await limiter.acquire(request({ budgets, costEstimateMicros: 50 })));
    await limiter.settle(lease, 0, 100);
    const spent = await limiter.acquire(request({ budgets, costEstimateMicros: 1 }));
    expect(spent).toMatchObject({
      allowed: false,
      denial: { kind: 'budget', retryAfterMs: 10 * MINUTE - 1_000, spent: true },
    });
    if (spent.allowed) throw new Error('expected a denial');
    expect(spent.denial).not.toHaveProperty('oversized');
  });

  it('reloads a budget once its counter has outlived its ttl', async () => {
    let stored = 0;
    const { clock, limiter } = setup(async () => stored);
    const budgets = [{ key: 'budget:h', limitMicros: 100, ttlMs: MINUTE }];
    await limiter.settle(leaseOf(await limiter.acquire(request({ budgets, costEstimateMicros: 10 }))), 0, 60);
    stored = 10;
    clock.now += MINUTE;
    expect((await limiter.status([], [], budgets)).budgets[0]?.spentMicros).toBe(10);
  });

  it('fails the acquire when the earlier spend cannot be loaded, and tries again next time', async () => {
    let fail = true;
    const { limiter } = setup(async () => {
      if (fail) throw new Error('store down');
      return 0;
    });
    const budgets = [{ key: 'budget:i', limitMicros: 100, ttlMs: MINUTE }];
    await expect(limiter.acquire(request({ budgets }))).rejects.toThrow('store down');
    fail = false;
    expect((await limiter.acquire(request({ budgets }))).allowed).toBe(true);
  });

  it('refuses a lease from another limiter', async () => {
    const { limiter } = setup();
    const other = setup().limiter;
    const lease = leaseOf(await other.acquire(request()));
    await expect(limiter.settle(lease, 0, 0)).rejects.toThrow(TypeError);
  });

  it('answers the same after idle buckets and slots are swept', async () => {
    const { clock, limiter } = setup();
    const rates = [{ key: 'rpm:j', kind: 'requests', limit: 10, windowMs: 1_000 }] as const;
    for (let i = 0; i < 1_000; i++) {
      await limiter.acquire(
        request({
          rates: [{ ...rates[0], key: `rpm:j${i}` }],
          concurrency: [{ key: `c:${i}`, limit: 1 }],
          leaseMs: 1_000,
        }),
      );
    }
    clock.now += 2 * MINUTE;
    await limiter.acquire(request({ rates }));
    const status = await limiter.status([{ ...rates[0], key: 'rpm:j5' }], [{ key: 'c:5', limit: 1 }], []);
    expect(status.rates[0]?.remaining).toBe(10);
    expect(status.concurrency[0]?.inUse).toBe(0);
  });
});
