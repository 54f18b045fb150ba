import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditSink, recordEvent } from '../audit/index.js';
import { type TokenService, tokenSpecSchema, WiderTokenError } from '../auth/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';
import { READS_QUERY } from '../http/query-rule.js';
import type { Store, TokenRecord } from '../store/index.js';

export interface AdminTokensOptions {
  tokens: TokenService;
  store: Store;
  audit: AuditSink;
}

/** What listings show of a token: everything but the hash of its secret. */
export type TokenView = Omit<TokenRecord, 'secretHash' | 'expiresAt' | 'createdAt' | 'revokedAt'> & {
  expiresAt: string | null;
  createdAt: string;
  revokedAt: string | null;
};

export function tokenView(record: TokenRecord): TokenView {
  const { secretHash: _, ...rest } = record;
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    ...rest,
    expiresAt: iso(record.expiresAt),
    createdAt: new Date(record.createdAt).toISOString(),
    revokedAt: iso(record.revokedAt),
  };
}

const idParams = z.strictObject({ id: z.string().regex(/^[a-z2-7]{12}$/, 'a token id') });

const notFound = new GatewayError(404, 'not_found_error', 'No such token', { code: 'token_not_found' });

/**
 * `/admin/tokens`. The admin key has every power; a token with the `admin` scope may mint only
 * tokens narrower than itself, and see or revoke only the tokens it minted.
 */
export function adminTokenRoutes(app: FastifyInstance, { tokens, store, audit }: AdminTokensOptions): void {
  /** The admin key sees every token; a token sees itself and the tokens minted under it. */
  const visible = async (actor: TokenRecord | null, record: TokenRecord) =>
    actor === null ||
    record.id === actor.id ||
    (await tokens.lineage(record)).some((creator) => creator.id === actor.id);

  app.post('/admin/tokens', async (request, reply) => {
    const spec = parseInput(tokenSpecSchema, request.body);
    try {
      const { token, record } = await tokens.create(spec, request.adminActor);
      recordEvent(audit, AUDIT_EVENTS.tokenCreated, request.adminActor?.id ?? AUDIT_ACTORS.admin, {
        tokenId: record.id,
        name: record.name,
        scopes: record.scopes,
        ...(record.userId && { userId: record.userId }),
        ...(record.clientId && { clientId: record.clientId }),
        ...(record.expiresAt !== null && { expiresAt: record.expiresAt }),
      });
      return reply.code(201).send({ ...tokenView(record), token });
    } catch (error) {
      if (error instanceof WiderTokenError) {
        throw new GatewayError(
          403,
          'permission_error',
          `A token cannot mint a wider token: ${error.message}`,
          {
            code: 'token_wider_than_creator',
          },
        );
      }
      throw error;
    }
  });

  app.get('/admin/tokens', READS_QUERY, async (request) => {
    const query = parseInput(
      z.strictObject({ includeRevoked: z.enum(['true', 'false']).optional() }),
      request.query,
    );
    // A token sees itself and what was minted under it: one query, however many it minted.
    const actor = request.adminActor;
    const listed = await store.tokens.list({
      includeRevoked: query.includeRevoked === 'true',
      ...(actor && { under: actor.id }),
    });
    return { tokens: listed.map(tokenView) };
  });

  app.get('/admin/tokens/:id', async (request) => {
    const { id } = parseInput(idParams, request.params);
    const record = await store.tokens.get(id);
    if (!record || !(await visible(request.adminActor, record))) throw notFound;
    return tokenView(record);
  });

  app.delete('/admin/tokens/:id', async (request) => {
    const { id } = parseInput(idParams, request.params);
    const record = await store.tokens.get(id);
    if (!record || !(await visible(request.adminActor, record))) throw notFound;
    // Revoking a revoked token answers it as it stands, and records nothing: it changed nothing.
    const revoked = await tokens.revoke(id);
    if (revoked) {
      recordEvent(audit, AUDIT_EVENTS.tokenRevoked, request.adminActor?.id ?? AUDIT_ACTORS.admin, {
        tokenId: id,
      });
    }
    // Read again, not judged from the read above: another request (on any instance, for this token
    // or one above it) may have revoked it since, and only a token gone since is not found.
    const current = await store.tokens.get(id);
    if (!current && !revoked) throw notFound;
    return tokenView(current ?? record);
  });
}
