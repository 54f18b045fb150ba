import type { Principal } from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { BudgetPeriod, TokenRecord } from '../store/index.js';
import type { BudgetRule, ConcurrencyRule, RateRule } from './index.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

export interface Rules {
  rates: RateRule[];
  concurrency: ConcurrencyRule[];
  budgets: BudgetRule[];
}

type LimitSet = { rpm?: number | undefined; tpm?: number | undefined; concurrency?: number | undefined };

function limitRules(subject: string, limits: LimitSet, rules: Rules): void {
  if (limits.rpm)
    rules.rates.push({ key: `rpm:${subject}`, kind: 'requests', limit: limits.rpm, windowMs: MINUTE });
  if (limits.tpm)
    rules.rates.push({ key: `tpm:${subject}`, kind: 'tokens', limit: limits.tpm, windowMs: MINUTE });
  if (limits.concurrency) rules.concurrency.push({ key: `conc:${subject}`, limit: limits.concurrency });
}

/** The end of the UTC day `now` falls in, in epoch ms. */
export const utcDayEnd = (now: number): number => now - (now % DAY) + DAY;

/**
 * Whether `now` falls in the UTC day ending at `end`. Before it counts as outside too: a wall
 * clock stepped forward for a moment and back (NTP, a bad boot clock) would otherwise keep what was
 * cached for that future day until the clock got there.
 */
export const inUtcDay = (end: number, now: number): boolean => now < end && now >= end - DAY;

/** The period a budget counts in, as part of its key, and how long a counter for it may live. */
export function budgetPeriod(
  period: BudgetPeriod,
  now: number,
): { id: string; fromDay: string | undefined; ttlMs: number } {
  const date = new Date(now);
  const day = date.toISOString().slice(0, 10);
  if (period === 'day') return { id: day, fromDay: day, ttlMs: DAY - (now % DAY) + MINUTE };
  if (period === 'month') {
    const next = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
    // Reloaded from the store at least daily, so that counters converge on the durable usage.
    return {
      id: day.slice(0, 7),
      fromDay: `${day.slice(0, 7)}-01`,
      ttlMs: Math.min(next - now + MINUTE, DAY),
    };
  }
  return { id: 'total', fromDay: undefined, ttlMs: DAY };
}

function budgetRule(subject: string, budget: { usd: number; period: BudgetPeriod }, now: number): BudgetRule {
  const period = budgetPeriod(budget.period, now);
  return {
    key: `budget:${subject}:${period.id}`,
    limitMicros: Math.round(budget.usd * 1_000_000),
    ttlMs: period.ttlMs,
  };
}

/**
 * The configuration's entry for a name a credential carries: its own key only. A user id such as
 * `constructor` or `toString` read `Object.prototype`'s member, a budget of no limit and no period.
 */
const ownEntry = <T>(record: Readonly<Record<string, T>>, name: string | undefined): T | undefined =>
  name !== undefined && Object.hasOwn(record, name) ? record[name] : undefined;

/** A token's own limits over its tier's over the `perToken` defaults, and its budget. */
function tokenRules(record: TokenRecord, { rateLimits }: Config, now: number, rules: Rules): void {
  const tier = ownEntry(rateLimits.tiers, record.metadata.tier);
  limitRules(`token:${record.id}`, { ...rateLimits.perToken, ...tier, ...record.limits }, rules);
  if (record.budget) rules.budgets.push(budgetRule(`token:${record.id}`, record.budget, now));
}

/**
 * The limits and budgets a request is held to, from who sent it: a token's own limits over its
 * tier's over the `perToken` defaults, plus the user's limits and budget; a static key's
 * `staticKeys` limits. Rule keys name the subject (`token:<id>`, `user:<id>`, `key:<fingerprint>`).
 */
export function rulesFor(principal: Principal | undefined, config: Config, now: number): Rules {
  const rules: Rules = { rates: [], concurrency: [], budgets: [] };
  if (!principal) return rules;
  const { rateLimits, budgets } = config;
  if (principal.kind === 'static-key') {
    limitRules(`key:${principal.fingerprint}`, rateLimits.staticKeys, rules);
    return rules;
  }
  const { record } = principal;
  tokenRules(record, config, now, rules);
  // A minted token spends from its creators' limits and budgets as their own requests do: minting
  // a hundred tokens as wide as oneself must not buy a hundred times one's budget.
  if (principal.lineage) for (const creator of principal.lineage) tokenRules(creator, config, now, rules);
  if (principal.shared) limitRules(principal.shared.subject, principal.shared.limits, rules);
  if (record.userId) {
    limitRules(`user:${record.userId}`, rateLimits.perUser, rules);
    const userBudget = ownEntry(budgets.users, record.userId);
    if (userBudget) rules.budgets.push(budgetRule(`user:${record.userId}`, userBudget, now));
  }
  return rules;
}

export const isEmpty = (rules: Rules): boolean =>
  rules.rates.length === 0 && rules.concurrency.length === 0 && rules.budgets.length === 0;

/**
 * `budget:token:<id>:<period>` → what the store already holds for that subject and period: its
 * first and last day. Bounded at both ends: rows dated past the period (by a wall clock stepped
 * forward for a moment) are not its spend, and counted there they held every period until theirs.
 */
export function parseBudgetKey(
  key: string,
): { tokenId?: string; userId?: string; fromDay: string | undefined; toDay: string | undefined } | undefined {
  const match = /^budget:(token|user):(.+):(\d{4}-\d{2}-\d{2}|\d{4}-\d{2}|total)$/.exec(key);
  if (!match) return undefined;
  const [, kind, id, period] = match as unknown as [string, string, string, string];
  const days =
    period === 'total'
      ? { fromDay: undefined, toDay: undefined }
      : period.length === 7
        ? { fromDay: `${period}-01`, toDay: `${period}-31` }
        : { fromDay: period, toDay: period };
  return kind === 'token' ? { tokenId: id, ...days } : { userId: id, ...days };
}
