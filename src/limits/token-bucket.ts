import type { Quota } from './types.js';

/**
 * Token bucket arithmetic, shared by the memory backend and (as a model) by the Redis scripts,
 * which do the same sums in Lua. A missing bucket is a full one, so nothing is stored for keys
 * that are idle.
 */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Tokens in the bucket at `now`, refilled continuously and never above `limit`. */
export function level(bucket: Bucket | undefined, limit: number, windowMs: number, now: number): number {
  if (!bucket) return limit;
  const elapsed = Math.max(0, now - bucket.updatedAt);
  return Math.min(limit, bucket.tokens + (elapsed * limit) / windowMs);
}

/**
 * How long until `cost` can be taken, 0 when it can be now. A cost above the whole bucket needs
 * only a full one, or it would never pass.
 */
export function waitFor(tokens: number, cost: number, limit: number, windowMs: number): number {
  // A zero limit is a switched-off key: nothing passes, and the window is as good a hint as any.
  if (limit <= 0) return windowMs;
  const need = Math.min(cost, limit);
  if (tokens >= need) return 0;
  return Math.max(1, Math.ceil(((need - tokens) * windowMs) / limit));
}

export function quotaOf(tokens: number, limit: number, windowMs: number): Quota {
  return {
    limit,
    remaining: Math.max(0, Math.floor(tokens)),
    resetMs: tokens >= limit ? 0 : Math.ceil(((limit - tokens) * windowMs) / limit),
  };
}

/** The quota a client should heed: the fewest remaining, then the longest to reset. */
export function tighter(a: Quota | undefined, b: Quota): Quota {
  if (!a) return b;
  if (b.remaining !== a.remaining) return b.remaining < a.remaining ? b : a;
  return b.resetMs > a.resetMs ? b : a;
}
