import { type Bucket, level, quotaOf, tighter, waitFor } from './token-bucket.js';
import type {
  AcquireRequest,
  Acquisition,
  BudgetRule,
  ConcurrencyRule,
  Denial,
  Lease,
  Limiter,
  LimitStatus,
  Quota,
  RateRule,
  SpentBefore,
} from './types.js';

export interface MemoryLimiterOptions {
  spentBefore: SpentBefore;
  /** Epoch ms; injected by tests to move time without waiting. */
  now?: () => number;
}

/** Idle state is dropped this often, from inside `acquire`, so there is no timer to stop. */
const SWEEP_EVERY_MS = 60_000;
/**
 * Retry hint for a full concurrency slot set or a budget held by reservations: both usually free
 * within one request's time, and the real expiry (`leaseMs`) would tell clients to wait far too long.
 */
const IN_FLIGHT_RETRY_MS = 1_000;

interface StoredBucket extends Bucket {
  /** When the bucket is full again and may be forgotten. */
  fullAt: number;
}

interface Reservation {
  amount: number;
  expiresAt: number;
}

interface BudgetState {
  spent: number;
  reserved: number;
  reservations: Map<string, Reservation>;
  expiresAt: number;
}

class MemoryLease implements Lease {
  settled = false;

  constructor(
    readonly id: string,
    readonly owner: MemoryLimiter,
    readonly tokenRules: readonly RateRule[],
    readonly tokenEstimate: number,
    readonly concurrencyKeys: readonly string[],
    readonly budgetKeys: readonly string[],
  ) {}
}

/**
 * Limits for a single gateway instance. Every decision is made synchronously between two awaits,
 * so concurrent requests in one process cannot both pass a check meant for one of them; the only
 * await is the one-off load of a budget key's earlier spend.
 */
export class MemoryLimiter implements Limiter {
  private readonly buckets = new Map<string, StoredBucket>();
  /** Concurrency key → lease id → expiry. */
  private readonly slots = new Map<string, Map<string, number>>();
  private readonly budgets = new Map<string, BudgetState>();
  /**
   * Loads in flight, with the spend settled under their key since each began: the loaded figure
   * replaces the counter those settles were added to, and may not hold them (see `load`).
   */
  private readonly loading = new Map<string, { done: Promise<void>; settled: number }>();
  private readonly spentBefore: SpentBefore;
  private readonly now: () => number;
  private sweptAt: number;
  private seq = 0;

  constructor(options: MemoryLimiterOptions) {
    this.spentBefore = options.spentBefore;
    this.now = options.now ?? Date.now;
    this.sweptAt = this.now();
  }

  tryAcquire(request: AcquireRequest): Acquisition | undefined {
    const now = this.now();
    return this.unloaded(request.budgets, now) ? undefined : this.decide(request, now);
  }

  async acquire(request: AcquireRequest): Promise<Acquisition> {
    for (;;) {
      const now = this.now();
      const missing = this.unloaded(request.budgets, now);
      // The check for loaded budgets and the decision share one synchronous run.
      if (!missing) return this.decide(request, now);
      await this.load(missing);
    }
  }

  async settle(lease: Lease, actualTokens: number, actualCostMicros: number): Promise<void> {
    if (!(lease instanceof MemoryLease) || lease.owner !== this) {
      throw new TypeError('lease was not issued by this limiter');
    }
    if (lease.settled) return;
    lease.settled = true;
    const now = this.now();
    const extra = actualTokens - lease.tokenEstimate;
    if (extra !== 0) {
      for (const rule of lease.tokenRules) {
        const tokens = level(this.bucket(rule, now), rule.limit, rule.windowMs, now) - extra;
        this.store(rule, tokens, now);
      }
    }
    for (const key of lease.concurrencyKeys) {
      const held = this.slots.get(key);
      if (held?.delete(lease.id) && held.size === 0) this.slots.delete(key);
    }
    for (const key of lease.budgetKeys) {
      const load = this.loading.get(key);
      if (load) load.settled += actualCostMicros;
      // A counter that expired is reloaded from the durable store, which has this spend.
      const budget = this.budgets.get(key);
      if (!budget) continue;
      const reservation = budget.reservations.get(lease.id);
      if (reservation) {
        budget.reserved -= reservation.amount;
        budget.reservations.delete(lease.id);
      }
      budget.spent += actualCostMicros;
    }
  }

  async status(
    rates: readonly RateRule[],
    concurrency: readonly ConcurrencyRule[],
    budgets: readonly BudgetRule[],
  ): Promise<LimitStatus> {
    for (;;) {
      const now = this.now();
      const missing = this.unloaded(budgets, now);
      if (missing) {
        await this.load(missing);
        continue;
      }
      return {
        rates: rates.map((rule) => ({
          ...rule,
          ...quotaOf(
            level(this.bucket(rule, now), rule.limit, rule.windowMs, now),
            rule.limit,
            rule.windowMs,
          ),
        })),
        concurrency: concurrency.map((rule) => ({ ...rule, inUse: this.inUse(rule.key, now) })),
        budgets: budgets.map((rule) => {
          const budget = this.budgets.get(rule.key)!;
          dropExpiredReservations(budget, now);
          return { ...rule, spentMicros: budget.spent, reservedMicros: budget.reserved };
        }),
      };
    }
  }

  async close(): Promise<void> {
    this.buckets.clear();
    this.slots.clear();
    this.budgets.clear();
  }

  private decide(request: AcquireRequest, now: number): Acquisition {
    if (now - this.sweptAt >= SWEEP_EVERY_MS || now < this.sweptAt) this.sweep(now);
    let denial: Denial | undefined;
    const levels: number[] = [];
    for (const rule of request.rates) {
      const tokens = level(this.bucket(rule, now), rule.limit, rule.windowMs, now);
      levels.push(tokens);
      const wait = waitFor(tokens, costOf(rule, request), rule.limit, rule.windowMs);
      if (wait > 0) denial = longer(denial, { kind: rule.kind, key: rule.key, retryAfterMs: wait });
    }
    for (const rule of request.concurrency) {
      const held = this.slots.get(rule.key);
      // Expired leases are looked for only when the set seems full, to keep the common case O(1).
      if ((held?.size ?? 0) < rule.limit || (held && this.inUse(rule.key, now) < rule.limit)) continue;
      const wait = Math.min(IN_FLIGHT_RETRY_MS, Math.max(1, earliest(held) - now));
      denial = longer(denial, { kind: 'concurrency', key: rule.key, retryAfterMs: wait });
    }
    const estimate = request.costEstimateMicros;
    for (const rule of request.budgets) {
      const budget = this.budgets.get(rule.key)!;
      if (!overBudget(budget.spent + budget.reserved, estimate, rule.limitMicros)) continue;
      dropExpiredReservations(budget, now);
      if (!overBudget(budget.spent + budget.reserved, estimate, rule.limitMicros)) continue;
      // Spent alone over the limit: nothing frees until the period's counter ends.
      const spent = overBudget(budget.spent, estimate, rule.limitMicros);
      const wait = spent ? Math.max(1, budget.expiresAt - now) : IN_FLIGHT_RETRY_MS;
      const oversized = spent && budget.spent < rule.limitMicros && estimate > rule.limitMicros;
      denial = longer(denial, {
        kind: 'budget',
        key: rule.key,
        retryAfterMs: wait,
        spent,
        ...(oversized && { oversized }),
      });
    }

    let requests: Quota | undefined;
    let tokens: Quota | undefined;
    if (denial) {
      request.rates.forEach((rule, i) => {
        const quota = quotaOf(levels[i]!, rule.limit, rule.windowMs);
        if (rule.kind === 'requests') requests = tighter(requests, quota);
        else tokens = tighter(tokens, quota);
      });
      return { allowed: false, denial, requests, tokens };
    }

    const id = String(++this.seq);
    const expiresAt = now + request.leaseMs;
    request.rates.forEach((rule, i) => {
      const left = levels[i]! - costOf(rule, request);
      this.store(rule, left, now);
      const quota = quotaOf(left, rule.limit, rule.windowMs);
      if (rule.kind === 'requests') requests = tighter(requests, quota);
      else tokens = tighter(tokens, quota);
    });
    for (const rule of request.concurrency) {
      let held = this.slots.get(rule.key);
      if (!held) {
        held = new Map();
        this.slots.set(rule.key, held);
      }
      held.set(id, expiresAt);
    }
    for (const rule of request.budgets) {
      const budget = this.budgets.get(rule.key)!;
      budget.reserved += estimate;
      budget.reservations.set(id, { amount: estimate, expiresAt });
    }
    const lease = new MemoryLease(
      id,
      this,
      request.rates.filter((rule) => rule.kind === 'tokens'),
      request.tokenEstimate,
      request.concurrency.map((rule) => rule.key),
      request.budgets.map((rule) => rule.key),
    );
    return { allowed: true, lease, requests, tokens };
  }

  /**
   * The bucket of `rule`. One stamped after `now` (the clock stepped back) is stamped `now`: it
   * refills from here, not once the clock reaches its stamp again, and holds no more than it did.
   */
  private bucket(rule: RateRule, now: number): Bucket | undefined {
    const bucket = this.buckets.get(rule.key);
    if (bucket && bucket.updatedAt > now) this.store(rule, bucket.tokens, now);
    return this.buckets.get(rule.key);
  }

  private store(rule: RateRule, tokens: number, now: number): void {
    if (tokens >= rule.limit) {
      this.buckets.delete(rule.key);
      return;
    }
    const fullAt = now + ((rule.limit - tokens) * rule.windowMs) / rule.limit;
    this.buckets.set(rule.key, { tokens, updatedAt: now, fullAt });
  }

  private inUse(key: string, now: number): number {
    const held = this.slots.get(key);
    if (!held) return 0;
    for (const [id, expiresAt] of held) if (expiresAt <= now) held.delete(id);
    return held.size;
  }

  /** The first budget rule whose counter is not loaded (or has run out its ttl). */
  private unloaded(budgets: readonly BudgetRule[], now: number): BudgetRule | undefined {
    for (const rule of budgets) {
      const budget = this.budgets.get(rule.key);
      if (!budget || budget.expiresAt <= now) return rule;
    }
    return undefined;
  }

  /**
   * Loads a budget key's earlier spend once, however many requests wait for it. The figure holds
   * every settle made before `spentBefore` was called (the gateway's flushes the usage recorder
   * first, and a request's usage is recorded in the same synchronous run as its settle), and not
   * those after, which are added to it: replaced by the figure alone, the spend settled during the
   * load was lost. A settle after the call can also reach the figure (recorded before the flush
   * took its batch, or written by a later flush before the read), and is then counted twice until
   * the next reload: over, not under.
   */
  private load(rule: BudgetRule): Promise<void> {
    const pending = this.loading.get(rule.key);
    if (pending) return pending.done;
    const load = { done: Promise.resolve(), settled: 0 };
    load.done = this.spentBefore(rule.key).then(
      (spent) => {
        this.loading.delete(rule.key);
        if (!Number.isFinite(spent)) throw new TypeError(`spentBefore(${rule.key}) returned ${spent}`);
        const previous = this.budgets.get(rule.key);
        // Requests in flight across a reload still hold their reservations.
        this.budgets.set(rule.key, {
          spent: spent + load.settled,
          reserved: previous?.reserved ?? 0,
          reservations: previous?.reservations ?? new Map(),
          expiresAt: this.now() + rule.ttlMs,
        });
      },
      (error: unknown) => {
        this.loading.delete(rule.key);
        throw error;
      },
    );
    this.loading.set(rule.key, load);
    return load.done;
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets) if (bucket.fullAt <= now) this.buckets.delete(key);
    for (const key of this.slots.keys()) if (this.inUse(key, now) === 0) this.slots.delete(key);
    for (const [key, budget] of this.budgets) {
      if (budget.expiresAt > now) continue;
      dropExpiredReservations(budget, now);
      if (budget.reservations.size === 0) this.budgets.delete(key);
    }
  }
}

export function createMemoryLimiter(options: MemoryLimiterOptions): Limiter {
  return new MemoryLimiter(options);
}

function costOf(rule: RateRule, request: AcquireRequest): number {
  return rule.kind === 'requests' ? 1 : request.tokenEstimate;
}

/** A budget is over when this reservation would pass the limit, or nothing at all is left. */
function overBudget(used: number, estimate: number, limit: number): boolean {
  return used + estimate > limit || used >= limit;
}

function dropExpiredReservations(budget: BudgetState, now: number): void {
  for (const [id, reservation] of budget.reservations) {
    if (reservation.expiresAt > now) continue;
    budget.reserved -= reservation.amount;
    budget.reservations.delete(id);
  }
}

function earliest(held: Map<string, number> | undefined): number {
  let first = Number.POSITIVE_INFINITY;
  if (held) for (const expiresAt of held.values()) first = Math.min(first, expiresAt);
  return first;
}

/** Of two denials, the one that makes the client wait longer: retrying sooner cannot pass. */
function longer(a: Denial | undefined, b: Denial): Denial {
  return a && a.retryAfterMs >= b.retryAfterMs ? a : b;
}
