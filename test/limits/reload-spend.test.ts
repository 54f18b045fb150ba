import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLimiter, type Limiter } from '../../src/limits/index.js';
import { createRedisLimiter } from '../../src/limits/redis-limiter.js';
import { leaseOf, MINUTE, request } from '../support/limit-requests.js';
import { hasRedis, type RedisServer, startRedis } from '../support/redis-server.js';

/**
 * Spend settled while a budget counter is being loaded again from the durable store: the store's
 * figure holds what was settled before the load began, not what was settled during it, and the
 * counter must hold both. And a lease taken before Redis restarted empty gives no tokens back to
 * the new dataset's buckets, which never had them taken.
 */

/** A `spentBefore` whose answer the test gives, once it has been asked. */
function heldStore(figure: number) {
  const asked: Array<() => void> = [];
  let calls = 0;
  return {
    spentBefore: async () => {
      calls++;
      if (calls === 1) return 0;
      await new Promise<void>((resolve) => asked.push(resolve));
      return figure;
    },
    /** Resolves once the reload has begun reading. */
    async reading(): Promise<void> {
      while (asked.length === 0) await sleep(2);
    },
    answer: () => asked.shift()!(),
  };
}

describe('memory limiter: a reload keeps the spend settled during it', () => {
  it('adds a settle that lands while the counter is loading to the loaded figure', async () => {
    const clock = { now: 1_700_000_000_000 };
    const store = heldStore(10);
    const limiter = createMemoryLimiter({ spentBefore: store.spentBefore, now: () => clock.now });
    const budgets = [{ key: 'budget:token:r1:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const lease = leaseOf(await limiter.acquire(request({ budgets, costEstimateMicros: 50 })));

    clock.now += MINUTE;
    const status = limiter.status([], [], budgets);
    await store.reading();
    // Settled after the store was read from: not in its figure of 10.
    await limiter.settle(lease, 0, 60);
    store.answer();
    expect((await status).budgets[0]).toMatchObject({ spentMicros: 70, reservedMicros: 0 });
  });
});

describe.skipIf(!hasRedis())('redis limiter: reloads and restarts (needs redis-server)', () => {
  let server: RedisServer;
  let raw: Redis;
  const open: Limiter[] = [];

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((limiter) => limiter.close()));
    raw?.disconnect();
  });
  afterAll(async () => {
    await server?.stop();
  });

  function limiter(prefix: string, spentBefore: (key: string) => Promise<number> = async () => 0): Limiter {
    const made = createRedisLimiter({
      url: server.url,
      prefix,
      failMode: 'closed',
      spentBefore,
      onBackendError: () => {},
    });
    open.push(made);
    return made;
  }

  it('adds the spend settled while a lapsed counter is seeded again, and only that', async () => {
    const prefix = `test:${randomUUID()}:`;
    const store = heldStore(10);
    const seeder = limiter(prefix, store.spentBefore);
    const other = limiter(prefix);
    raw = new Redis(server.url);
    const budgets = [{ key: 'budget:token:r2:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const before = leaseOf(await seeder.acquire(request({ budgets, costEstimateMicros: 50 })));
    const during = leaseOf(await other.acquire(request({ budgets, costEstimateMicros: 50 })));

    // The counter lapses, as it does daily. A settle before the reload begins is in the store's
    // figure (it was recorded and flushed before the read): not added again.
    await raw.del(`${prefix}bs:${budgets[0]!.key}`);
    await seeder.settle(before, 0, 5);
    const status = seeder.status([], [], budgets);
    await store.reading();
    await sleep(50);
    // Another instance settles after the read began: not in the figure of 10.
    await other.settle(during, 0, 60);
    store.answer();
    expect((await status).budgets[0]).toMatchObject({ spentMicros: 70, reservedMicros: 0 });
    expect((await other.status([], [], budgets)).budgets[0]?.spentMicros).toBe(70);
  });

  it('adds what another instance settled into the counter just before it lapsed, not yet in the store', async () => {
    const prefix = `test:${randomUUID()}:`;
    // The durable store's figure: this instance's spend; the other's last settle is not written yet.
    const seeder = limiter(prefix, async () => 10);
    const other = limiter(prefix);
    raw = new Redis(server.url);
    const budgets = [{ key: 'budget:token:r4:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    const lease = leaseOf(await other.acquire(request({ budgets, costEstimateMicros: 50 })));
    await other.settle(lease, 0, 60);
    expect((await other.status([], [], budgets)).budgets[0]?.spentMicros).toBe(60);

    // The counter lapses (its ttl, as it does daily) before the other instance writes its usage.
    await raw.del(`${prefix}bs:${budgets[0]!.key}`);
    expect((await seeder.status([], [], budgets)).budgets[0]?.spentMicros).toBe(70);
  });

  it('puts back what it settled in its last seconds when Redis restarts empty, not yet in the store', async () => {
    const prefix = `test:${randomUUID()}:`;
    const seeder = limiter(prefix, async () => 10);
    const other = limiter(prefix);
    const budgets = [{ key: 'budget:token:r5:2026-11', limitMicros: 1_000, ttlMs: MINUTE }];
    // Settled in Redis; the store's figure (10) does not have it yet.
    await other.settle(leaseOf(await other.acquire(request({ budgets, costEstimateMicros: 50 }))), 0, 60);
    await server.restart();
    const spent = async (limiter: Limiter) => {
      try {
        return (await limiter.status([], [], budgets)).budgets[0]?.spentMicros;
      } catch {
        return undefined;
      }
    };
    await expect.poll(() => spent(seeder), { timeout: 5_000, interval: 50 }).toBe(70);
    await sleep(300);
    expect(await spent(other)).toBe(70);
  });

  it('refunds no tokens of a lease from before a restart into the new bucket', async () => {
    const prefix = `test:${randomUUID()}:`;
    const gateway = limiter(prefix);
    const rates = [{ key: 'tpm:r3', kind: 'tokens', limit: 1_000, windowMs: 10 * MINUTE }] as const;
    const old = leaseOf(await gateway.acquire(request({ rates, tokenEstimate: 800 })));

    await server.restart();
    let fresh = await gateway.acquire(request({ rates, tokenEstimate: 900 }));
    for (let i = 0; !fresh.allowed && i < 100; i++) {
      await sleep(50);
      fresh = await gateway.acquire(request({ rates, tokenEstimate: 900 }));
    }
    expect(fresh).toMatchObject({ allowed: true, tokens: { remaining: 100 } });

    // The old lease used nothing: its 800 tokens were taken from a bucket that is gone.
    await gateway.settle(old, 0, 0);
    const left = (await gateway.status(rates, [], [])).rates[0]?.remaining;
    expect(left).toBeGreaterThanOrEqual(100);
    expect(left).toBeLessThan(110);

    // A lease of the new dataset still gets its unused tokens back.
    await gateway.settle(leaseOf(fresh), 400, 0);
    expect((await gateway.status(rates, [], [])).rates[0]?.remaining).toBeGreaterThanOrEqual(600);
  });
});
