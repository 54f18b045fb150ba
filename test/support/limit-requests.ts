import type { AcquireRequest, Acquisition, Lease } from '../../src/limits/index.js';

export const MINUTE = 60_000;

/** An acquire request that takes nothing but what `overrides` adds, leased for a minute. */
export function request(overrides: Partial<AcquireRequest> = {}): AcquireRequest {
  return {
    rates: [],
    tokenEstimate: 0,
    concurrency: [],
    budgets: [],
    costEstimateMicros: 0,
    leaseMs: MINUTE,
    ...overrides,
  };
}

/** The lease of an allowed acquisition; throws, naming the denial, for a refused one. */
export function leaseOf(acquisition: Acquisition): Lease {
  if (!acquisition.allowed) throw new Error(`denied: ${JSON.stringify(acquisition.denial)}`);
  return acquisition.lease;
}
