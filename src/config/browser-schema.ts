import { z } from 'zod';
import { limitSetSchema } from './access-schema.js';

/**
 * Configuration for browsers as clients: CORS, TLS, cookie sessions, external identity (JWT)
 * and guest access.
 */

/** An exact origin: scheme, host and port only, as a browser sends it in `Origin`. */
const originSchema = z.string().refine((text) => {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === text;
  } catch {
    return false;
  }
}, 'an exact origin such as https://app.example.com (scheme, host and port; no path, no trailing slash, no wildcard)');

export const corsSchema = z
  .strictObject({
    origins: z.array(originSchema).max(256).default([]),
    /** How long a browser may cache a preflight answer, seconds. */
    maxAge: z.number().int().min(0).max(86_400).default(600),
  })
  .prefault({});

export const tlsSchema = z
  .strictObject({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.3'),
  })
  .optional();

const duration = z.string().regex(/^\d{1,6}[smhd]$/, 'a duration such as 15m, 7d or 30s');

export const sessionsSchema = z
  .strictObject({
    /** Lifetime of the session cookie; a refresh renews it. */
    sessionTtl: duration.default('15m'),
    /** Absolute lifetime of a login (its refresh tokens); a login code may ask for less. */
    refreshTtl: duration.default('30d'),
    /** A refresh token unused this long ends the login. */
    refreshIdle: duration.default('7d'),
    /** A refresh token just replaced still works this long: two tabs refreshing at once. */
    reuseGraceSec: z.number().int().min(0).max(60).default(10),
  })
  .prefault({});

const claimName = z.string().min(1).max(128);
const ASYMMETRIC = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/** Keys fetched in the clear could be swapped on the way: only a loopback issuer may skip TLS. */
function secureOrLoopback(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'https:') return true;
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

export const jwtIssuerSchema = z
  .strictObject({
    issuer: z.string().min(1).max(512),
    audience: z.union([z.string().min(1).max(512), z.array(z.string().min(1).max(512)).min(1).max(16)]),
    /** Where the issuer publishes its keys (https, or http on loopback). */
    jwksUrl: z
      .url({ protocol: /^https?$/ })
      .refine(
        secureOrLoopback,
        'expected an https URL (plain http only on loopback: anyone on the way could serve keys that forge any user)',
      )
      .optional(),
    /** The issuer's keys inline, as a JWKS document. */
    jwks: z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(64) }).optional(),
    /** A PEM public key (SPKI). */
    publicKeyFile: z.string().min(1).optional(),
    /** Public-key algorithms only: HMAC and `none` are never accepted. */
    algorithms: z.array(z.enum(ASYMMETRIC)).min(1).default(['RS256', 'ES256', 'EdDSA']),
    clockToleranceSec: z.number().int().min(0).max(300).default(30),
    /**
     * Put before the user claim to make the user id (`auth0:` + `sub`). A subject is unique only
     * within its issuer, so with several issuers each must say: distinct prefixes keep their users
     * apart; the same prefix (even '') declares that they issue the same user ids.
     */
    userPrefix: z.string().max(64).optional(),
    /** Claim names to read; dotted paths reach into objects (`app_metadata.tier`). */
    claims: z
      .strictObject({
        user: claimName.default('sub'),
        tier: claimName.optional(),
        scopes: claimName.optional(),
        models: claimName.optional(),
        /** The templates the user may run (with the `templates` scope); without it, every one. */
        templates: claimName.optional(),
      })
      .prefault({}),
  })
  .refine(
    (issuer) =>
      [issuer.jwksUrl, issuer.jwks, issuer.publicKeyFile].filter((source) => source !== undefined).length ===
      1,
    'set exactly one of jwksUrl, jwks, publicKeyFile',
  );

const scopeSchema = z.enum(['models:read', 'chat', 'embeddings', 'templates']);
const budgetSchema = z.strictObject({
  usd: z.number().positive().max(1_000_000_000),
  period: z.enum(['day', 'month', 'total']),
});

export const guestSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** Default: `templates` alone when `templates` is set (as for tokens), else `models:read` and `chat`. */
    scopes: z.array(scopeSchema).min(1).optional(),
    models: z.array(z.string().min(1).max(256)).min(1).max(256).optional(),
    templates: z.array(z.string().min(1).max(128)).max(256).optional(),
    /** Per client address. */
    limits: limitSetSchema.prefault({}),
    /** Per client address. */
    budget: budgetSchema.optional(),
    /**
     * Stored responses and conversations one guest session may keep (each conversation holding
     * at most `conversations.maxItems` and `maxBytes`): guests cost nothing to make.
     */
    maxStored: z.number().int().min(0).max(1_000_000).default(1_000),
    /**
     * All guests together, whatever their addresses: an IPv6 network of a few /64s would
     * otherwise multiply the per-address limits by its size.
     */
    total: z
      .strictObject({
        limits: limitSetSchema.prefault({}),
        /** Guest logins per minute on an instance, from every address: each writes a session. */
        loginsPerMinute: z.number().int().min(1).max(1_000_000).default(1_000),
      })
      .prefault({}),
  })
  .refine((guest) => !guest.enabled || guest.limits.rpm !== undefined, {
    message: 'guest access needs limits.rpm (requests per minute per client address)',
    path: ['limits', 'rpm'],
  })
  // A guest given templates may run those and nothing else unless its scopes say more: with chat as
  // well, the template list would bound nothing.
  .transform(({ scopes, ...guest }) => ({
    ...guest,
    scopes: scopes ?? (guest.templates ? ['templates' as const] : ['models:read' as const, 'chat' as const]),
  }))
  .prefault({});
