import { describe, expect, it } from 'vitest';
import { createMemoryLimiter, refusingUnwritten, UsageUnwrittenError } from '../../src/limits/index.js';
import { MINUTE, request } from '../support/limit-requests.js';

const budget = { key: 'budget:t:day:2026-12-07', limitMicros: 1_000_000, ttlMs: MINUTE } as const;
const rates = [{ key: 'rpm:t', kind: 'requests', limit: 100, windowMs: MINUTE }] as const;

describe('refusingUnwritten', () => {
  it('keeps the limiter deciding on the spot once what it needs is loaded', async () => {
    const limiter = refusingUnwritten(createMemoryLimiter({ spentBefore: async () => 0 }));
    const asked = request({ rates: [...rates], budgets: [budget], costEstimateMicros: 10 });
    // The budget's spend is not loaded yet: that needs the store, so nothing is decided now.
    expect(limiter.tryAcquire?.(asked)).toBeUndefined();
    expect((await limiter.acquire(asked)).allowed).toBe(true);
    // Loaded: decided without a promise, as the hot path relies on.
    expect(limiter.tryAcquire?.(asked)).toMatchObject({ allowed: true, requests: { remaining: 98 } });
  });

  it("refuses with the backend's 503 while the spend cannot be read whole, and reads it again next time", async () => {
    let written = false;
    const limiter = refusingUnwritten(
      createMemoryLimiter({
        spentBefore: async () => {
          if (!written) throw new UsageUnwrittenError('usage could not be written');
          return 0;
        },
      }),
    );
    const asked = request({ budgets: [budget], costEstimateMicros: 10 });
    expect(limiter.tryAcquire?.(asked)).toBeUndefined();
    expect(await limiter.acquire(asked)).toMatchObject({
      allowed: false,
      denial: { kind: 'unavailable', key: 'backend' },
    });
    written = true;
    expect((await limiter.acquire(asked)).allowed).toBe(true);
  });
});
