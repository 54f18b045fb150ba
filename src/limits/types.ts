/**
 * The one contract of the limits engine, shared by the memory backend (one gateway instance) and
 * the Redis backend (many instances, exact across them).
 *
 * Rule keys are chosen by the caller and name what is limited (`rpm:token:abc`, `conc:team:x`,
 * `budget:token:abc:2026-11`). Rules with the same key share one counter, so a key must always be
 * used with the same kind of rule.
 */

/**
 * A token bucket: `limit` units per `windowMs`, refilled continuously, starting full. A `tokens`
 * rule whose estimate is larger than the whole bucket passes only when the bucket is full, and
 * leaves it below zero, so one huge request is possible but pays for itself in waiting.
 */
export interface RateRule {
  key: string;
  kind: 'requests' | 'tokens';
  limit: number;
  windowMs: number;
}

/** At most `limit` requests in flight at once under `key`. */
export interface ConcurrencyRule {
  key: string;
  limit: number;
}

/**
 * Spend, in micro-dollars, per budget period. The period belongs in the key
 * (`budget:token:abc:2026-11`): the first time a backend sees the key it loads what the durable
 * store already holds with `spentBefore(key)`, and keeps its own counter for `ttlMs` from then on
 * (the rest of the period plus a margin), after which the key is loaded again.
 */
export interface BudgetRule {
  key: string;
  limitMicros: number;
  ttlMs: number;
}

export interface AcquireRequest {
  /** `requests` rules take 1, `tokens` rules take `tokenEstimate`. */
  rates: readonly RateRule[];
  tokenEstimate: number;
  concurrency: readonly ConcurrencyRule[];
  /** Each budget reserves `costEstimateMicros` until settled. */
  budgets: readonly BudgetRule[];
  costEstimateMicros: number;
  /**
   * A concurrency slot or budget reservation not settled within this long is dropped, so an
   * instance that crashed mid-request does not hold them forever. A settle that comes later still
   * charges the actual tokens and cost.
   */
  leaseMs: number;
}

/** One bucket as `x-ratelimit-*` headers show it. `resetMs` is the time until it is full again. */
export interface Quota {
  limit: number;
  remaining: number;
  resetMs: number;
}

/**
 * Why a request was refused. `unavailable` (key `backend`) means the shared store could not be
 * asked and the limiter fails closed: not the client's fault, so callers answer 503, not 429.
 */
export type Denial =
  | { kind: 'requests' | 'tokens' | 'concurrency' | 'unavailable'; key: string; retryAfterMs: number }
  | {
      kind: 'budget';
      key: string;
      retryAfterMs: number;
      /**
       * The settled spend alone leaves too little: nothing frees before the period turns. False
       * when requests in flight hold the rest reserved, which frees as they settle.
       */
      spent: boolean;
      /**
       * Set when the request's estimate alone is more than the whole budget, with its spend below
       * it: the request's size refuses it, not what was spent, and a smaller request still passes.
       */
      oversized?: true;
    };

/** `requests` and `tokens` are the tightest rule of each kind, after this request's take. */
export type Acquisition =
  | { allowed: true; lease: Lease; requests?: Quota; tokens?: Quota }
  | { allowed: false; denial: Denial; requests?: Quota; tokens?: Quota };

/** What `acquire` handed out; only the limiter that issued it can settle it. */
export interface Lease {
  readonly id: string;
}

export interface RateStatus extends RateRule, Quota {}
export interface ConcurrencyStatus extends ConcurrencyRule {
  inUse: number;
}
export interface BudgetStatus extends BudgetRule {
  /** Settled spend in the period, including what `spentBefore` loaded. */
  spentMicros: number;
  /** Held by requests in flight. */
  reservedMicros: number;
}

export interface LimitStatus {
  rates: RateStatus[];
  concurrency: ConcurrencyStatus[];
  budgets: BudgetStatus[];
}

export interface Limiter {
  /**
   * All or nothing, atomically: when any rule denies, nothing is taken from any rule. When
   * several deny, the denial with the longest wait is reported (retrying sooner cannot pass).
   */
  acquire(request: AcquireRequest): Promise<Acquisition>;
  /**
   * `acquire` decided on the spot, for a limiter that can (one whose state is in this process):
   * undefined when it would have to wait for something first. Spares the hot path two promises.
   */
  tryAcquire?(request: AcquireRequest): Acquisition | undefined;
  /**
   * Token rules are charged `actualTokens - tokenEstimate` (a refund, or an extra debit that may
   * take a bucket below zero so later requests wait); budgets are charged `actualCostMicros` in
   * place of the reservation; concurrency slots are freed. Settling twice does nothing.
   */
  settle(lease: Lease, actualTokens: number, actualCostMicros: number): Promise<void>;
  /** What is left, without taking anything (for GET /v1/rate-limit-status). */
  status(
    rates: readonly RateRule[],
    concurrency: readonly ConcurrencyRule[],
    budgets: readonly BudgetRule[],
  ): Promise<LimitStatus>;
  close(): Promise<void>;
}

/** Loads the spend the durable store holds for a budget key (period included in the key). */
export type SpentBefore = (key: string) => Promise<number>;
