import { z } from 'zod';
import type { BudgetPeriod, Scope, TokenRecord } from '../store/index.js';
import { IpAllowlist, parseCidr } from './ip-allowlist.js';
import { freeText, plainText } from './plain-text.js';

export const SCOPES = [
  'models:read',
  'chat',
  'embeddings',
  'templates',
  'admin',
  'sessions',
] as const satisfies readonly Scope[];
export const DEFAULT_SCOPES: Scope[] = ['models:read', 'chat', 'embeddings'];
const PERIODS = ['day', 'month', 'total'] as const satisfies readonly BudgetPeriod[];
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Ten years: asked for more, a token was cut to it without a word; now the ask is refused. */
const MAX_LIFETIME_DAYS = 3650;

const positive = z.number().int().min(1).max(1_000_000_000);

/** A duration written as `15m`, `7d`, `30s`, or a number of seconds. */
export function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  return Number(value.slice(0, -1)) * UNIT_MS[value.slice(-1) as keyof typeof UNIT_MS];
}

/**
 * A lifetime as `30d`, `12h`, `15m`, `90s` or a number of seconds, of at least a second: `0s`
 * was taken where `0` was refused, and minted a credential dead on creation.
 */
export function lifetimeSchema(example: string, maxSeconds = 1_000_000_000) {
  return z
    .union([
      z.string().regex(/^\d{1,6}[smhd]$/, `a duration such as ${example}`),
      z.number().int().min(1).max(maxSeconds),
    ])
    .refine((value) => durationMs(value) >= 1_000, 'must be at least 1s');
}

/** Entries of a token's or session's metadata: unbounded, a token was stored with 20,000. */
const MAX_METADATA_ENTRIES = 64;

/**
 * Free-form labels of a token or session (`tier` picks rate limits): kept in the store as given.
 * Keys are names; a value may hold tabs and line breaks.
 */
export const metadataSchema = z
  .record(plainText(64), freeText(512))
  .refine(
    (metadata) => Object.keys(metadata).length <= MAX_METADATA_ENTRIES,
    `must have at most ${MAX_METADATA_ENTRIES} entries`,
  );

/** What a client asks for when it creates a token (admin API body, CLI flags). */
// biome-ignore format: kept as written so that fields added here stay one-line changes
export const tokenSpecSchema = z.strictObject({
  name: plainText(128),
  scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length).optional(),
  models: z.array(plainText(256)).min(1).max(256).optional(),
  providers: z.array(plainText(64)).min(1).max(64).optional(),
  /** Templates the token may list and run; needs the `templates` scope. */
  templates: z.array(plainText(64)).min(1).max(256).optional(),
  maxTokens: positive.optional(),
  limits: z
    .strictObject({ rpm: positive.optional(), tpm: positive.optional(), concurrency: positive.optional() })
    .optional(),
  budget: z
    .strictObject({ usd: z.number().positive().max(1_000_000_000), period: z.enum(PERIODS) })
    .optional(),
  /** `30d`, `12h`, `15m`, `90s`, or seconds; at most ten years. */
  expiresIn: lifetimeSchema('30d, 12h or 15m', MAX_LIFETIME_DAYS * 86_400)
    .refine((value) => durationMs(value) <= MAX_LIFETIME_DAYS * UNIT_MS.d, `must be at most ${MAX_LIFETIME_DAYS}d (10 years)`)
    .optional(),
  ipAllowlist: z
    .array(z.string().refine((text) => parseCidr(text) !== undefined, 'must be an IP address or CIDR'))
    .min(1)
    .max(64)
    .optional(),
  userId: plainText(128).optional(),
  clientId: plainText(128).optional(),
  metadata: metadataSchema.optional(),
}).refine((spec) => !spec.templates || !spec.scopes || spec.scopes.includes('templates'), {
  path: ['templates'],
  message: "needs the 'templates' scope (or leave out scopes: the token then gets the templates scope only)",
});
export type TokenSpec = z.output<typeof tokenSpecSchema>;

export function lifetimeMs(expiresIn: TokenSpec['expiresIn']): number | undefined {
  return expiresIn === undefined ? undefined : durationMs(expiresIn);
}

/** A token that asks for more than its creator holds: says which power, never a value of the creator's. */
export class WiderTokenError extends Error {
  override name = 'WiderTokenError';
}

function narrowerList(
  field: string,
  child: readonly string[] | null,
  parent: readonly string[] | null,
): void {
  if (parent === null) return;
  if (child === null)
    throw new WiderTokenError(`${field}: the new token must be limited to a subset of yours`);
  const allowed = new Set(parent);
  const extra = child.find((item) => !allowed.has(item));
  if (extra !== undefined) throw new WiderTokenError(`${field}: '${extra.slice(0, 64)}' is not among yours`);
}

function narrowerNumber(
  field: string,
  child: number | null | undefined,
  parent: number | null | undefined,
): void {
  if (parent === null || parent === undefined) return;
  if (child === null || child === undefined || child > parent) {
    throw new WiderTokenError(`${field}: the new token must set it, at most as high as yours`);
  }
}

/**
 * A token minted by another token may hold no more than its creator: its user and tier are the
 * creator's; scopes, models, providers, max_tokens, IP ranges, lifetime, limits and budget are
 * each equal or narrower.
 */
export function assertNarrower(child: TokenRecord, parent: TokenRecord): void {
  // A user's limits, budget and stored conversations are keyed by the user id: a token naming
  // another user would spend as that user and read what that user stored. A creator without a
  // user has none to give: a child of a delegated admin token could otherwise name anyone.
  if (child.userId !== parent.userId) {
    throw new WiderTokenError(
      parent.userId === null
        ? 'userId: your token belongs to no user, and neither may the tokens it mints (an admin key can mint one for a user)'
        : 'userId: the new token must be for your own user (leave it out to inherit it)',
    );
  }
  // The tier picks the rate limits: another tier may allow more than the creator's own.
  if (child.metadata.tier !== parent.metadata.tier)
    throw new WiderTokenError('metadata.tier: the new token keeps your tier (leave it out to inherit it)');
  narrowerList('scopes', child.scopes, parent.scopes);
  narrowerList('models', child.models, parent.models);
  narrowerList('providers', child.providers, parent.providers);
  narrowerList('templates', child.templates, parent.templates);
  narrowerNumber('maxTokens', child.maxTokens, parent.maxTokens);
  narrowerNumber('expiresIn', child.expiresAt, parent.expiresAt);
  narrowerNumber('limits.rpm', child.limits.rpm, parent.limits.rpm);
  narrowerNumber('limits.tpm', child.limits.tpm, parent.limits.tpm);
  narrowerNumber('limits.concurrency', child.limits.concurrency, parent.limits.concurrency);
  if (parent.budget) {
    if (
      !child.budget ||
      child.budget.period !== parent.budget.period ||
      child.budget.usd > parent.budget.usd
    ) {
      throw new WiderTokenError(
        `budget: the new token must have a ${parent.budget.period} budget no larger than yours`,
      );
    }
  }
  if (parent.ipAllowlist) {
    const own = new IpAllowlist(parent.ipAllowlist);
    const inside = child.ipAllowlist?.every((text) => own.covers(parseCidr(text)!));
    if (!inside)
      throw new WiderTokenError('ipAllowlist: the new token must be limited to ranges inside yours');
  }
}
