import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FailMode, Limiter } from '../../src/limits/index.js';
import { createRedisLimiter, type RedisLimiterOptions } from '../../src/limits/redis-limiter.js';
import { StatusUnavailableError } from '../../src/limits/unwritten-usage.js';
import { leaseOf, MINUTE, request } from '../support/limit-requests.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!hasRedis())('redis limiter (needs redis-server: apt-get install redis-server)', () => {
  let server: RedisServer;
  const open: Limiter[] = [];

  beforeAll(async () => {
    server = await startRedis();
  });

  afterAll(async () => {
    await Promise.all(open.map((limiter) => limiter.close()));
    await server?.stop();
  });

  /** Limiters sharing one key namespace, each with a connection of its own, like gateway instances. */
  function instances(count: number, options: Partial<RedisLimiterOptions> = {}): Limiter[] {
    const prefix = `test:${randomUUID()}:`;
    return Array.from({ length: count }, () => {
      const limiter = createRedisLimiter({
        url: server.url,
        prefix,
        failMode: 'closed',
        spentBefore: async () => 0,
        onBackendError: () => {},
        ...options,
      });
      open.push(limiter);
      return limiter;
    });
  }

  it('lets exactly the limit through when 200 requests arrive at once across 3 instances', async () => {
    const limiters = instances(3);
    const rates = [{ key: 'rpm:a', kind: 'requests', limit: 10, windowMs: MINUTE }] as const;
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => limiters[i % 3]!.acquire(request({ rates }))),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.find((r) => !r.allowed)).toMatchObject({
      denial: { kind: 'requests', key: 'rpm:a' },
      requests: { limit: 10, remaining: 0 },
    });
  });

  it('refills continuously over the window', async () => {
    const [limiter] = instances(1);
    const rates = [{ key: 'rps:b', kind: 'requests', limit: 5, windowMs: 1_000 }] as const;
    for (let i = 0; i < 5; i++) expect((await limiter!.acquire(request({ rates }))).allowed).toBe(true);
    const denied = await limiter!.acquire(request({ rates }));
    if (denied.allowed) throw new Error('expected a denial');
    expect(denied.denial.retryAfterMs).toBeGreaterThan(0);
    expect(denied.denial.retryAfterMs).toBeLessThanOrEqual(200);
    await sleep(denied.denial.retryAfterMs + 20);
    expect((await limiter!.acquire(request({ rates }))).allowed).toBe(true);
    await sleep(1_100);
    expect((await limiter!.status(rates, [], [])).rates[0]).toMatchObject({ remaining: 5, resetMs: 0 });
  });

  it("refills within a window of a bucket stamped ahead of Redis's clock (its clock stepped back)", async () => {
    const prefix = `test:${randomUUID()}:`;
    const [limiter] = instances(1, { prefix });
    const rates = [{ key: 'rps:step', kind: 'requests', limit: 1, windowMs: 500 }] as const;
    expect((await limiter!.acquire(request({ rates }))).allowed).toBe(true);
    const redis = new Redis(server.url);
    // Stamped and set to expire by a clock 10 min ahead of the one Redis has now.
    const [seconds] = await redis.time();
    await redis.hset(`${prefix}r:rps:step`, 'at', Number(seconds) * 1000 + 10 * MINUTE);
    await redis.pexpire(`${prefix}r:rps:step`, 10 * MINUTE + 500);
    await redis.quit();
    const denied = await limiter!.acquire(request({ rates }));
    if (denied.allowed) throw new Error('expected a denial');
    expect(denied.denial.retryAfterMs).toBeLessThanOrEqual(500);
    await sleep(600);
    expect((await limiter!.acquire(request({ rates }))).allowed).toBe(true);
    expect((await limiter!.acquire(request({ rates }))).allowed).toBe(false);
  });

  it('reserves estimated tokens, refunds the unused part and debits the overrun', async () => {
    const [a, b] = instances(2);
    const rates = [{ key: 'tpm:c', kind: 'tokens', limit: 1_000, windowMs: 10 * MINUTE }] as const;
    const first = await a!.acquire(request({ rates, tokenEstimate: 400 }));
    expect(first.tokens).toMatchObject({ limit: 1_000, remaining: 600 });
    await a!.settle(leaseOf(first), 100, 0);
    await a!.settle(leaseOf(first), 100, 0);
    const remaining = (await b!.status(rates, [], [])).rates[0]?.remaining;
    expect(remaining).toBeGreaterThanOrEqual(900);
    expect(remaining).toBeLessThanOrEqual(901);

    const second = await b!.acquire(request({ rates, tokenEstimate: 100 }));
    await b!.settle(leaseOf(second), 2_000, 0);
    const denied = await a!.acquire(request({ rates, tokenEstimate: 10 }));
    expect(denied).toMatchObject({
      allowed: false,
      denial: { kind: 'tokens', key: 'tpm:c' },
      tokens: { remaining: 0 },
    });
    if (denied.allowed) return;
    // About 1010 tokens short at 100 a minute.
    expect(denied.denial.retryAfterMs).toBeGreaterThan(10 * MINUTE);
  });

  it('frees concurrency slots on settle and when a lease lapses', async () => {
    const [a, b] = instances(2);
    const concurrency = [{ key: 'conc:d', limit: 2 }];
    const first = leaseOf(await a!.acquire(request({ concurrency, leaseMs: 300 })));
    leaseOf(await b!.acquire(request({ concurrency, leaseMs: 300 })));
    expect(await a!.acquire(request({ concurrency }))).toMatchObject({
      allowed: false,
      denial: { kind: 'concurrency', key: 'conc:d' },
    });
    expect((await b!.status([], concurrency, [])).concurrency[0]?.inUse).toBe(2);

    await a!.settle(first, 0, 0);
    leaseOf(await b!.acquire(request({ concurrency, leaseMs: 300 })));
    expect((await a!.acquire(request({ concurrency }))).allowed).toBe(false);

    await sleep(350);
    expect((await a!.status([], concurrency, [])).concurrency[0]?.inUse).toBe(0);
    expect((await a!.acquire(request({ concurrency }))).allowed).toBe(true);
  });

  it('takes nothing from any rule when one rule denies', async () => {
    const [limiter] = instances(1, { spentBefore: async () => 990 });
    const rates = [
      { key: 'rpm:e', kind: 'requests', limit: 5, windowMs: 10 * MINUTE },
      { key: 'tpm:e', kind: 'tokens', limit: 1_000, windowMs: 10 * MINUTE },
    ] as const;
    const concurrency = [{ key: 'conc:e', limit: 1 }];
    const budgets = [{ key: 'budget:e:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const held = leaseOf(await limiter!.acquire(request({ concurrency })));

    const byConcurrency = await limiter!.acquire(request({ rates, concurrency, tokenEstimate: 300 }));
    expect(byConcurrency).toMatchObject({ allowed: false, denial: { kind: 'concurrency' } });
    const byBudget = await limiter!.acquire(
      request({ rates, budgets, tokenEstimate: 300, costEstimateMicros: 20 }),
    );
    expect(byBudget).toMatchObject({
      allowed: false,
      denial: { kind: 'budget', key: 'budget:e:2026-11' },
      requests: { remaining: 5 },
      tokens: { remaining: 1_000 },
    });

    const status = await limiter!.status(rates, concurrency, budgets);
    expect(status.rates.map((r) => r.remaining)).toEqual([5, 1_000]);
    expect(status.concurrency[0]?.inUse).toBe(1);
    expect(status.budgets[0]).toMatchObject({ spentMicros: 990, reservedMicros: 0 });

    await limiter!.settle(held, 0, 0);
    const allowed = await limiter!.acquire(
      request({ rates, concurrency, budgets, tokenEstimate: 300, costEstimateMicros: 10 }),
    );
    expect(allowed).toMatchObject({ allowed: true, requests: { remaining: 4 }, tokens: { remaining: 700 } });
  });

  it('never lets concurrent reservations across instances pass a budget', async () => {
    const spentBefore = vi.fn(async () => 100);
    const limiters = instances(3, { spentBefore });
    const budgets = [{ key: 'budget:f:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const limiter = limiters[i % 3]!;
        return { limiter, result: await limiter.acquire(request({ budgets, costEstimateMicros: 30 })) };
      }),
    );
    const allowed = results.filter(({ result }) => result.allowed);
    expect(allowed).toHaveLength(30);
    // Once per instance at most: concurrent first calls share one load.
    expect(spentBefore.mock.calls.length).toBeLessThanOrEqual(3);
    const status = await limiters[0]!.status([], [], budgets);
    expect(status.budgets[0]).toMatchObject({ spentMicros: 100, reservedMicros: 900 });

    await Promise.all(allowed.map(({ limiter, result }) => limiter.settle(leaseOf(result), 0, 20)));
    const after = await limiters[1]!.status([], [], budgets);
    expect(after.budgets[0]).toMatchObject({ spentMicros: 700, reservedMicros: 0 });
  });

  it('keeps spend settled while a counter is missing for the load that seeds it, before the settling instance wrote it to the store', async () => {
    const prefix = `test:${randomUUID()}:`;
    // The durable store: the usage each instance has written so far (every second or so).
    let stored = 0;
    const [a, b] = instances(2, { prefix, spentBefore: async () => stored });
    const budgets = [{ key: 'budget:user:u:total', limitMicros: 10_000, ttlMs: MINUTE }];
    await a!.settle(leaseOf(await a!.acquire(request({ budgets, costEstimateMicros: 1_000 }))), 0, 3_000);
    stored += 3_000;
    const inFlight = leaseOf(await a!.acquire(request({ budgets, costEstimateMicros: 1_000 })));
    // The counter's lifetime ends while a request is in flight: every day for a total or monthly
    // budget, whenever Redis evicts it.
    const raw = new Redis(server.url);
    try {
      await raw.pexpire(`${prefix}bs:budget:user:u:total`, 1);
      await sleep(5);
      await a!.settle(inFlight, 0, 3_000);
      // Another instance seeds the counter again from the store, which a has not yet written this
      // to. Its first settle too, written by now, is counted twice: a's spend of the last seconds
      // may or may not be in the store, and the load counts it as if not (over, never under).
      const status = await b!.status([], [], budgets);
      expect(status.budgets[0]).toMatchObject({ spentMicros: 9_000, reservedMicros: 0 });
      expect(await raw.exists(`${prefix}bu:budget:user:u:total`)).toBe(0);
    } finally {
      raw.disconnect();
    }
  });

  it('drops a lapsed budget reservation', async () => {
    const [limiter] = instances(1);
    const budgets = [{ key: 'budget:g', limitMicros: 100, ttlMs: MINUTE }];
    // Larger than the whole budget, none of it spent: the request's size refuses it.
    const whole = await limiter!.acquire(request({ budgets, costEstimateMicros: 101 }));
    if (whole.allowed) throw new Error('expected a denial');
    expect(whole.denial).toMatchObject({ kind: 'budget', spent: true, oversized: true });
    leaseOf(await limiter!.acquire(request({ budgets, costEstimateMicros: 100, leaseMs: 200 })));
    expect(await limiter!.acquire(request({ budgets, costEstimateMicros: 1 }))).toMatchObject({
      allowed: false,
      denial: { kind: 'budget', retryAfterMs: 1_000, spent: false },
    });
    await sleep(250);
    const lease = leaseOf(await limiter!.acquire(request({ budgets, costEstimateMicros: 50 })));
    await limiter!.settle(lease, 0, 100);
    const spent = await limiter!.acquire(request({ budgets, costEstimateMicros: 1 }));
    if (spent.allowed) throw new Error('expected a denial');
    // Spent out: the wait is what is left of the counter's period.
    expect(spent.denial).toMatchObject({ kind: 'budget', spent: true });
    expect(spent.denial).not.toHaveProperty('oversized');
    expect(spent.denial.retryAfterMs).toBeGreaterThan(MINUTE - 5_000);
  });

  it('answers the fail mode while Redis is down, and recovers when it is back', async () => {
    const own = await startRedis();
    const errors: Array<[Error, FailMode]> = [];
    const make = (failMode: FailMode) => {
      const limiter = createRedisLimiter({
        url: own.url,
        failMode,
        spentBefore: async () => 0,
        onBackendError: (error, mode) => errors.push([error, mode]),
      });
      open.push(limiter);
      return limiter;
    };
    const closed = make('closed');
    const opened = make('open');
    const rates = [{ key: 'rpm:h', kind: 'requests', limit: 100, windowMs: MINUTE }] as const;
    expect((await closed.acquire(request({ rates }))).allowed).toBe(true);
    expect((await opened.acquire(request({ rates }))).allowed).toBe(true);

    await own.stop();
    await sleep(50);
    const started = Date.now();
    const denied = await closed.acquire(request({ rates }));
    expect(denied).toEqual({
      allowed: false,
      denial: { kind: 'unavailable', key: 'backend', retryAfterMs: 1_000 },
    });
    const allowed = await opened.acquire(request({ rates }));
    expect(allowed).toMatchObject({ allowed: true });
    expect(allowed.requests).toBeUndefined();
    await opened.settle(leaseOf(allowed), 10, 10);
    expect(Date.now() - started).toBeLessThan(1_000);
    // The status route answers it as a request is refused: 503, retry in a second.
    await expect(closed.status(rates, [], [])).rejects.toBeInstanceOf(StatusUnavailableError);
    await expect(closed.status(rates, [], [])).rejects.toMatchObject({ retryAfterMs: 1_000 });
    expect(errors.some(([, mode]) => mode === 'closed')).toBe(true);
    expect(errors.some(([, mode]) => mode === 'open')).toBe(true);

    // Reported at most once a second, however many requests fail.
    const before = errors.length;
    for (let i = 0; i < 50; i++) await closed.acquire(request({ rates }));
    expect(errors.length - before).toBeLessThanOrEqual(2);

    await own.restart();
    const deadline = Date.now() + 5_000;
    let back = await closed.acquire(request({ rates }));
    while (!back.allowed && Date.now() < deadline) {
      await sleep(50);
      back = await closed.acquire(request({ rates }));
    }
    expect(back).toMatchObject({ allowed: true, requests: { limit: 100, remaining: 99 } });
    await own.stop();
  });
});
