import { z } from 'zod';
import { plainText } from '../auth/plain-text.js';
import {
  assertNarrower,
  durationMs,
  lifetimeSchema,
  metadataSchema,
  WiderTokenError,
} from '../auth/token-spec.js';
import { badRequest } from '../errors/gateway-error.js';
import type { Scope, SessionGrant, TokenRecord } from '../store/index.js';

/** What a browser session may hold: data-plane scopes only, never `admin` or `sessions`. */
export const SESSION_SCOPES = [
  'models:read',
  'chat',
  'embeddings',
  'templates',
] as const satisfies readonly Scope[];
const DEFAULT_SESSION_SCOPES: Scope[] = ['models:read', 'chat', 'embeddings'];
const positive = z.number().int().min(1).max(1_000_000_000);

/** `POST /admin/sessions`: what the app's back end asks for on behalf of its user. */
export const sessionSpecSchema = z.strictObject({
  userId: plainText(128),
  scopes: z.array(z.enum(SESSION_SCOPES)).min(1).max(SESSION_SCOPES.length).optional(),
  models: z.array(plainText(256)).min(1).max(256).optional(),
  templates: z.array(plainText(64)).min(1).max(256).optional(),
  limits: z
    .strictObject({ rpm: positive.optional(), tpm: positive.optional(), concurrency: positive.optional() })
    .optional(),
  budget: z
    .strictObject({
      usd: z.number().positive().max(1_000_000_000),
      period: z.enum(['day', 'month', 'total']),
    })
    .optional(),
  /** Absolute lifetime of the login: `8h`, `30d`, or seconds; at most `auth.sessions.refreshTtl`. */
  ttl: lifetimeSchema('8h or 30d').optional(),
  metadata: metadataSchema.optional(),
});
export type SessionSpec = z.output<typeof sessionSpecSchema>;

/** `ms` in the largest unit that holds it whole, as durations are written (`30d`, `90m`). */
function asDuration(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.floor(ms / 1000)}s`;
}

/**
 * The grant a login code carries. A token with the `sessions` scope may grant no more than it
 * holds: its models, providers, max_tokens, limits, budget and lifetime bound the session's, and a
 * token that belongs to a user mints sessions for that user only. A token without a user is an
 * app's back end, which signs its users in: it may name any user.
 */
export function grantFor(
  spec: SessionSpec,
  creator: TokenRecord | null,
  maxLifetimeMs: number,
  now: number,
): SessionGrant {
  const lifetimeMs = spec.ttl === undefined ? maxLifetimeMs : durationMs(spec.ttl);
  // Cut to the bound silently, a login asked for 90 days ended after 30 with nothing said.
  if (lifetimeMs > maxLifetimeMs)
    throw badRequest(
      `'ttl' must be at most ${asDuration(maxLifetimeMs)} (auth.sessions.refreshTtl); omit it for that`,
      { param: 'ttl', code: 'invalid_value' },
    );
  const grant: SessionGrant = {
    userId: spec.userId,
    // As for tokens: a grant naming templates runs those and nothing else unless its scopes say more.
    scopes:
      spec.scopes ??
      (spec.templates
        ? ['templates']
        : creator
          ? creator.scopes.filter((s) => DEFAULT_SESSION_SCOPES.includes(s))
          : DEFAULT_SESSION_SCOPES),
    models: spec.models ?? creator?.models ?? null,
    providers: creator?.providers ?? null,
    maxTokens: creator?.maxTokens ?? null,
    templates: spec.templates ?? creator?.templates ?? null,
    limits: { ...creator?.limits, ...spec.limits },
    budget: spec.budget ?? creator?.budget ?? null,
    metadata: {
      ...(creator?.metadata.tier !== undefined && { tier: creator.metadata.tier }),
      ...spec.metadata,
    },
    lifetimeMs,
  };
  if (creator?.userId && spec.userId !== creator.userId) {
    // The user's budget, limits and stored conversations are keyed by the id: another's would be theirs.
    throw new WiderTokenError(
      `userId: this token belongs to user '${creator.userId}' and mints sessions for that user only`,
    );
  }
  if (creator) {
    // The session is used from browsers anywhere: the creator's IP allowlist bounds where the
    // code is minted, not where the session is used. Its user was checked above: a token without
    // a user is an app's back end, which signs in any of its users.
    assertNarrower(
      {
        ...creator,
        ...grant,
        userId: creator.userId,
        expiresAt: now + lifetimeMs,
        ipAllowlist: creator.ipAllowlist,
      },
      creator,
    );
  }
  return grant;
}
