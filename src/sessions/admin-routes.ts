import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditSink, recordEvent } from '../audit/index.js';
import { plainText, WiderTokenError } from '../auth/index.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';
import { READS_QUERY } from '../http/query-rule.js';
import type { SessionRecord, Store } from '../store/index.js';
import type { SessionService } from './session-service.js';
import { grantFor, sessionSpecSchema } from './session-spec.js';

export interface AdminSessionsOptions {
  sessions: SessionService;
  jwt: JwtVerifier | undefined;
  store: Store;
  audit: AuditSink;
}

/** What listings show of a session: never a hash. */
export function sessionView(session: SessionRecord) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: session.id,
    userId: session.userId,
    guest: session.guest,
    scopes: session.grant.scopes,
    models: session.grant.models,
    templates: session.grant.templates,
    limits: session.grant.limits,
    budget: session.grant.budget,
    metadata: session.grant.metadata,
    createdBy: session.createdBy,
    createdAt: iso(session.createdAt),
    expiresAt: iso(session.expiresAt),
    lastRefreshAt: iso(session.refreshedAt),
    revokedAt: iso(session.revokedAt),
    revokedReason: session.revokedReason,
  };
}

/** A page of the listing: a busy app has hundreds of thousands of live sessions. */
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1_000;

const userQuery = z.strictObject({
  user: plainText(128).optional(),
  includeRevoked: z.enum(['true', 'false']).optional(),
  /** The `next` of the page before. */
  after: z
    .string()
    .regex(/^\d{1,15}\.[a-z2-7]{26}$/, "the 'next' value of the page before")
    .optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
});
/** Whose sessions a bulk revocation ends: one user's, or every guest's. Nothing else, so nothing is ignored. */
const bulkQuery = z.strictObject({
  user: plainText(128).optional(),
  guest: z.enum(['true']).optional(),
});
const idParams = z.strictObject({ id: z.string().regex(/^[a-z2-7]{26}$/, 'a session id') });
const jwtRevocation = z.strictObject({
  claim: z.enum(['sub', 'jti', 'sid']),
  value: plainText(512),
  /** Only tokens of this issuer; every issuer when absent. */
  issuer: plainText(512).optional(),
});
/**
 * A revocation is matched against a token's `iss` exactly: one naming an issuer that is not
 * configured (a trailing slash short) would be stored, answered 201, and refuse nothing.
 */
function refuseUnknownIssuer(issuer: string, configured: readonly string[]): void {
  if (configured.includes(issuer)) return;
  const named = JSON.stringify(issuer);
  throw new GatewayError(
    400,
    'invalid_request_error',
    configured.length === 0
      ? `No auth.jwt issuer is configured, so a revocation for issuer ${named} would refuse nothing: leave issuer out, or configure the issuer under auth.jwt`
      : `No auth.jwt issuer is ${named}, so this revocation would refuse nothing: give one of the configured issuers exactly as written (${configured.map((name) => JSON.stringify(name)).join(', ')}), or leave issuer out to revoke for every issuer`,
    { code: 'unknown_issuer', param: 'issuer' },
  );
}

const notFound = new GatewayError(404, 'not_found_error', 'No such session', { code: 'session_not_found' });

/**
 * `/admin/sessions`: mint one-time login codes (the admin key, or a token with the `sessions`
 * scope, which can grant no more than it holds), list and revoke sessions.
 */
export function adminSessionRoutes(
  app: FastifyInstance,
  { sessions, jwt, store, audit }: AdminSessionsOptions,
): void {
  app.post('/admin/sessions', async (request, reply) => {
    const spec = parseInput(sessionSpecSchema, request.body);
    const actor = request.adminActor;
    let grant: ReturnType<typeof grantFor>;
    try {
      grant = grantFor(spec, actor, sessions.settings.refreshTtlMs, Date.now());
    } catch (error) {
      if (!(error instanceof WiderTokenError)) throw error;
      throw new GatewayError(
        403,
        'permission_error',
        `A token cannot grant a wider session: ${error.message}`,
        {
          code: 'session_wider_than_creator',
        },
      );
    }
    const minted = await sessions.mintCode(grant, actor);
    recordEvent(audit, AUDIT_EVENTS.sessionCodeCreated, actor?.id ?? AUDIT_ACTORS.admin, {
      userId: spec.userId,
    });
    return reply.code(201).header('cache-control', 'no-store').send(minted);
  });

  app.get('/admin/sessions', READS_QUERY, async (request) => {
    const query = parseInput(userQuery, request.query);
    const limit = query.limit ?? DEFAULT_PAGE;
    const [at, id] = query.after?.split('.') ?? [];
    const list = await store.sessions.list({
      ...(query.user !== undefined && { userId: query.user }),
      includeRevoked: query.includeRevoked === 'true',
      ...(at !== undefined && id !== undefined && { after: { createdAt: Number(at), id } }),
      limit,
    });
    const last = list.length === limit ? list.at(-1) : undefined;
    return { sessions: list.map(sessionView), next: last ? `${last.createdAt}.${last.id}` : null };
  });

  app.delete('/admin/sessions/:id', async (request) => {
    const { id } = parseInput(idParams, request.params);
    const session = await store.sessions.get(id);
    if (!session) throw notFound;
    if (await sessions.revoke(id, 'admin')) {
      recordEvent(audit, AUDIT_EVENTS.sessionRevoked, AUDIT_ACTORS.admin, {
        sessionId: id,
        ...(session.userId && { userId: session.userId }),
      });
    }
    return sessionView((await store.sessions.get(id)) ?? session);
  });

  app.delete('/admin/sessions', READS_QUERY, async (request) => {
    const query = parseInput(bulkQuery, request.query);
    if ((query.user === undefined) === (query.guest === undefined)) {
      const both = query.user !== undefined;
      throw new GatewayError(
        400,
        'invalid_request_error',
        `${both ? 'Revoke one kind at a time' : 'Name whose sessions to revoke'}: ?user=U (that user's) or ?guest=true (every guest's)`,
        { code: both ? 'conflicting_params' : 'missing_user', param: 'user' },
      );
    }
    if (query.user === undefined) {
      const count = await sessions.revokeGuests('admin');
      recordEvent(audit, AUDIT_EVENTS.sessionRevoked, AUDIT_ACTORS.admin, { guest: true, count });
      return { revoked: count };
    }
    const ids = await sessions.revokeUser(query.user, 'admin');
    recordEvent(audit, AUDIT_EVENTS.sessionRevoked, AUDIT_ACTORS.admin, {
      userId: query.user,
      count: ids.length,
    });
    return { revoked: ids.length, sessions: ids };
  });

  /**
   * Revokes external identities at once: every JWT with this `sub` (or whose user id, `userPrefix`
   * + `sub`, is this), `jti` or `sid`.
   */
  app.post('/admin/jwt/revocations', async (request, reply) => {
    const { claim, value, issuer } = parseInput(jwtRevocation, request.body);
    if (issuer !== undefined) refuseUnknownIssuer(issuer, jwt?.issuerNames ?? []);
    if (jwt) await jwt.revoke(claim, value, issuer);
    else await store.sessions.revokeJwt({ claim, value, issuer: issuer ?? '', revokedAt: Date.now() });
    recordEvent(audit, AUDIT_EVENTS.jwtRevoked, AUDIT_ACTORS.admin, {
      claim,
      value,
      ...(issuer && { issuer }),
    });
    return reply.code(201).send({ claim, value, issuer: issuer ?? null });
  });
}
