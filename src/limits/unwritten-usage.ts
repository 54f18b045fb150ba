import type { Acquisition, Limiter } from './types.js';

/** The refused request's retry hint: the load is tried again at the next request. */
const RETRY_MS = 1_000;

/**
 * Usage still in memory (this process's, or with `--workers` a worker's) was not written before a
 * budget's spend was to be read from the store: a figure known to be short would let a client
 * spend past its budget, so the load is refused instead (`refusingUnwritten`).
 */
export class UsageUnwrittenError extends Error {
  constructor(detail: string) {
    super(
      `a budget's spend was not read, its requests are refused (503) until it is: ${detail} (a store that refuses writes, such as a full disk or a write lock another process holds, is the usual cause)`,
    );
    this.name = 'UsageUnwrittenError';
  }
}

/**
 * `status` of a limiter that cannot say what is left now, and answers as `acquire` refuses: 503
 * `rate_limiter_unavailable`, retry after `retryAfterMs`. The worker's limiter rebuilds it from the
 * primary's answer, so the status route answers the same in every process.
 */
export class StatusUnavailableError extends Error {
  constructor(readonly retryAfterMs: number) {
    super('the rate limits cannot be read now');
    this.name = 'StatusUnavailableError';
  }
}

/**
 * `limiter` answering a request whose budget could not be read whole with its own refusal for a
 * backend it cannot ask (503 `rate_limiter_unavailable`), and its status with StatusUnavailableError;
 * nothing is taken, and the budget is read again at the next call. Other failures stay as they are.
 */
export function refusingUnwritten(limiter: Limiter): Limiter {
  return {
    acquire: (request) =>
      limiter.acquire(request).catch((error: unknown): Acquisition => {
        if (!(error instanceof UsageUnwrittenError)) throw error;
        return { allowed: false, denial: { kind: 'unavailable', key: 'backend', retryAfterMs: RETRY_MS } };
      }),
    // A decision on the spot needs nothing loaded, so it cannot meet unwritten usage: kept, or the
    // hot path pays the two promises `tryAcquire` spares it.
    ...(limiter.tryAcquire && { tryAcquire: (request) => limiter.tryAcquire?.(request) }),
    settle: (lease, tokens, cost) => limiter.settle(lease, tokens, cost),
    status: (rates, concurrency, budgets) =>
      limiter.status(rates, concurrency, budgets).catch((error: unknown) => {
        throw error instanceof UsageUnwrittenError ? new StatusUnavailableError(RETRY_MS) : error;
      }),
    close: () => limiter.close(),
  };
}
