import Fastify, { type FastifyInstance } from 'fastify';
import type { UsageRecorder } from '../accounting/index.js';
import type { AuditLog } from '../audit/index.js';
import { extractCredential, type StaticKeyVerifier, TOKEN_PREFIX, type TokenService } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { adminConversationRoutes, type ConversationService } from '../conversations/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Store, TokenRecord } from '../store/index.js';
import { adminAuditRoutes } from './admin-audit.js';
import { type AdminKeysOptions, adminKeyRoutes } from './admin-keys.js';
import { adminTokenRoutes } from './admin-tokens.js';
import { adminUsageRoutes } from './admin-usage.js';
import { installErrorHandling } from './error-handler.js';
import { GatewayError } from './errors.js';
import { HEALTH_ROUTES, healthRoutes, type Readiness } from './health.js';
import { requestId } from './request-id.js';

export interface AdminPlaneOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Verifies the admin key; empty when none is configured, and then everything but health is 401. */
  adminVerifier: StaticKeyVerifier;
  readiness(): Promise<Readiness>;
  keys: AdminKeysOptions;
  tokens: TokenService;
  store: Store;
  usage: UsageRecorder;
  audit: AuditLog;
  conversations: ConversationService;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The token acting on the admin API; null for the admin key itself. */
    adminActor: TokenRecord | null;
  }
}

const unauthorized = new GatewayError(401, 'authentication_error', 'Admin credential required', {
  code: 'admin_credential_required',
});

/** The operator-facing listener, kept separate so it can stay on a private interface. */
export function createAdminPlane(options: AdminPlaneOptions): FastifyInstance {
  const { logger, metrics, adminVerifier } = options;
  const app = Fastify({ logger: false, genReqId: requestId, bodyLimit: 1024 * 1024 });
  installErrorHandling(app, logger, 1024 * 1024);

  app.decorateRequest('adminActor', null);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (HEALTH_ROUTES.has(request.routeOptions.url ?? '')) return;
    const credential = extractCredential(request.headers);
    if (credential === undefined) throw unauthorized;
    if (credential.startsWith(TOKEN_PREFIX)) {
      const check = await options.tokens.verify(credential, request.ip);
      if (!('principal' in check)) throw unauthorized;
      if (!check.principal.scopes.has('admin')) {
        throw new GatewayError(403, 'permission_error', "This token does not have the 'admin' scope", {
          code: 'insufficient_scope',
        });
      }
      // Keys, metrics and audit stay with the admin key; a token administers tokens only.
      if (!request.url.startsWith('/admin/tokens')) {
        throw new GatewayError(403, 'permission_error', 'Only the admin key may use this route', {
          code: 'admin_key_required',
        });
      }
      request.adminActor = check.principal.record;
      return;
    }
    if (!adminVerifier.verify(credential)) throw unauthorized;
  });

  healthRoutes(app, options.readiness, true);
  adminKeyRoutes(app, { ...options.keys, audit: options.audit });
  adminTokenRoutes(app, { tokens: options.tokens, store: options.store, audit: options.audit });
  adminUsageRoutes(app, { store: options.store, usage: options.usage });
  adminAuditRoutes(app, { store: options.store, audit: options.audit });
  adminConversationRoutes(app, { conversations: options.conversations });
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.render()),
  );
  return app;
}
