import { z } from 'zod';

/**
 * Rate limits, budgets, prices, audit and alerts: the access layer's configuration. Limits are
 * token buckets: `rpm` requests and `tpm` tokens per minute, `concurrency` requests at once.
 */
const count = z.number().int().min(1).max(1_000_000_000);
export const limitSetSchema = z.strictObject({
  rpm: count.optional(),
  tpm: count.optional(),
  concurrency: count.optional(),
});

const budgetSchema = z.strictObject({
  usd: z.number().positive().max(1_000_000_000),
  period: z.enum(['day', 'month', 'total']),
});

export const rateLimitsSchema = z
  .strictObject({
    /**
     * `redis` shares limits, budgets and revocations across instances (needs storage.redis.url);
     * `memory` keeps them per process. Default: `redis` when storage.redis is set, else `memory`.
     */
    backend: z.enum(['memory', 'redis']).optional(),
    /**
     * Accepts that each instance enforces the limits on its own (memory limits, several instances
     * on one store: a limit of N per minute lets N per instance through). Without it, an instance
     * refuses to start beside another when either keeps its limits in memory.
     */
    perInstance: z.boolean().default(false),
    /** When the backend is unreachable: refuse requests (closed) or let them through (open). */
    failMode: z.enum(['closed', 'open']).default('closed'),
    /** Defaults for gateway tokens that set no limits of their own. */
    perToken: limitSetSchema.prefault({}),
    /** Per user id (from the token), summed over all the user's tokens. */
    perUser: limitSetSchema.prefault({}),
    /** Per static client key. */
    staticKeys: limitSetSchema.prefault({}),
    /**
     * Per client IP, for requests that fail authentication or carry none: brute-force protection.
     * Authenticated traffic is limited per token and user instead.
     */
    perIp: z.strictObject({ failuresPerMinute: count.default(30) }).prefault({}),
    /** Named sets of limits a token can take with `metadata.tier`. */
    tiers: z.record(z.string().regex(/^[a-z0-9_-]{1,32}$/), limitSetSchema).default({}),
  })
  .prefault({});

export const budgetsSchema = z
  .strictObject({
    /** Budgets per user id; a token's own budget applies as well. */
    users: z.record(z.string().min(1).max(128), budgetSchema).default({}),
  })
  .prefault({});

const priceSchema = z.strictObject({
  input: z.number().min(0).max(10_000),
  output: z.number().min(0).max(10_000),
  cachedInput: z.number().min(0).max(10_000).optional(),
  /** Audio input tokens (cache reads of audio at it discounted as `cachedInput` discounts `input`). */
  audioInput: z.number().min(0).max(10_000).optional(),
  /** Audio output tokens (a spoken answer). */
  audioOutput: z.number().min(0).max(10_000).optional(),
  cacheWrite: z.number().min(0).max(10_000).optional(),
  cacheWrite1h: z.number().min(0).max(10_000).optional(),
  /** The multiple of these rates fast processing is billed at (priority, fast mode). */
  fast: z.number().min(1).max(100).optional(),
  /** US dollars per 1,000 searches of the provider's own web search tool. */
  webSearch: z.number().min(0).max(10_000).optional(),
  /** Above `above` input tokens, every input rate times `input` and the output rate times `output`. */
  longContext: z
    .strictObject({
      above: z.number().int().min(1).max(100_000_000),
      input: z.number().min(1).max(100),
      output: z.number().min(1).max(100),
    })
    .optional(),
});

/** USD per million tokens, by model name or `provider/model`; adds to and overrides the defaults. */
export const pricingSchema = z.record(z.string().min(1).max(256), priceSchema).default({});

export const auditSchema = z
  .strictObject({
    /** Entries written per transaction; with intervalMs, what a crash can lose. */
    batchSize: z.number().int().min(1).max(10_000).default(100),
    intervalMs: z.number().int().min(10).max(60_000).default(200),
    /**
     * Entries kept in memory while the store cannot be written; beyond it the oldest are dropped
     * (counted in `keyward_audit_dropped_total`).
     */
    maxQueue: z.number().int().min(10).max(1_000_000).default(10_000),
    /** One summary record per data-plane request (never prompt text). */
    requests: z.boolean().default(true),
  })
  .prefault({});

export const alertsSchema = z
  .strictObject({
    /** POSTed a JSON alert, signed with HMAC-SHA256 of the body in `x-keyward-signature`. */
    webhook: z
      .strictObject({
        url: z.url({ protocol: /^https?$/ }),
        /** Environment variable holding the signing secret. */
        secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
      })
      .optional(),
    /** A token's requests in one minute above this many times its average of the last hour. */
    spikeFactor: z.number().min(2).max(1000).default(10),
    /** Failed authentications per minute, from all addresses, that count as a burst. */
    authFailuresPerMinute: z.number().int().min(1).default(100),
  })
  .prefault({});
