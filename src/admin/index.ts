import Fastify, { type FastifyInstance } from 'fastify';
import type { UsageRecorder } from '../accounting/index.js';
import type { AuditLog } from '../audit/index.js';
import { type FailureGuard, failureSubjects } from '../auth/failure-guard.js';
import { extractCredential, type StaticKeyVerifier, TOKEN_PREFIX, type TokenService } from '../auth/index.js';
import type { JwtVerifier } from '../auth/jwt.js';
import type { Config } from '../config/index.js';
import type { ConversationService } from '../conversations/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import { clientErrorHandler } from '../http/client-error.js';
import { limitConnections, listenerOptions } from '../http/connections.js';
import { installErrorHandling } from '../http/error-handler.js';
import { HEALTH_ROUTES, healthRoutes, type Readiness } from '../http/health.js';
import { acceptJsonBodies } from '../http/json-content.js';
import { requestId } from '../http/request-id.js';
import type { Logger, Metrics } from '../observability/index.js';
import { adminSessionRoutes } from '../sessions/admin-routes.js';
import type { SessionService } from '../sessions/session-service.js';
import type { Store, TokenRecord } from '../store/index.js';
import { adminTemplateRoutes, type TemplateRegistry } from '../templates/index.js';
import { adminAuditRoutes } from './audit.js';
import { adminConversationRoutes } from './conversations.js';
import { type AdminKeysOptions, adminKeyRoutes } from './keys.js';
import { adminTokenRoutes } from './tokens.js';
import { adminUsageRoutes } from './usage.js';

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
  /** Wrong admin credentials, counted per address as on the data plane. */
  failures: FailureGuard;
  sessions: SessionService;
  jwt: JwtVerifier | undefined;
  templates: TemplateRegistry;
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
  const app = Fastify({
    logger: false,
    genReqId: requestId,
    bodyLimit: 1024 * 1024,
    clientErrorHandler,
    ...listenerOptions(options.config.server, options.config.admin.tls),
  }) as unknown as FastifyInstance;
  limitConnections(
    app.server,
    options.config.server,
    () => false,
    (reason) => metrics.connectionRefused('admin', reason),
  );
  installErrorHandling(app, logger, 1024 * 1024);
  acceptJsonBodies(app, {
    depth: options.config.limits.jsonDepth,
    arrayItems: options.config.limits.arrayItems,
  });

  app.decorateRequest('adminActor', null);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (HEALTH_ROUTES.has(request.routeOptions.url ?? '')) return;
    const credential = extractCredential(request.headers);
    const refuse = () => options.failures.failed(failureSubjects(request.ip, credential)) ?? unauthorized;
    if (credential === undefined) throw refuse();
    if (credential.startsWith(TOKEN_PREFIX)) {
      const check = await options.tokens.verify(credential, request.ip);
      if (!('principal' in check)) throw check.failure === 'invalid' ? refuse() : unauthorized;
      // A back end mints login codes for its users with a token holding the `sessions` scope.
      if (
        request.method === 'POST' &&
        request.url === '/admin/sessions' &&
        check.principal.scopes.has('sessions')
      ) {
        request.adminActor = check.principal.record;
        return;
      }
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
    if (!adminVerifier.verify(credential)) throw refuse();
  });

  healthRoutes(app, options.readiness, true);
  adminKeyRoutes(app, { ...options.keys, audit: options.audit });
  adminTokenRoutes(app, { tokens: options.tokens, store: options.store, audit: options.audit });
  adminUsageRoutes(app, { store: options.store, usage: options.usage });
  adminAuditRoutes(app, { store: options.store, audit: options.audit });
  adminSessionRoutes(app, {
    sessions: options.sessions,
    jwt: options.jwt,
    store: options.store,
    audit: options.audit,
  });
  adminTemplateRoutes(app, { registry: options.templates, store: options.store, audit: options.audit });
  adminConversationRoutes(app, { conversations: options.conversations, audit: options.audit });
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.render()),
  );
  return app;
}
