import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/index.js';
import { type FailureGuard, failureSubjects } from '../auth/failure-guard.js';
import { extractCredential, type StaticKeyVerifier, TOKEN_PREFIX, type TokenService } from '../auth/index.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { TOKEN_FAILURES } from '../auth/token-failures.js';
import type { Config } from '../config/index.js';
import type { ConversationService } from '../conversations/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import { clientErrorHandler } from '../http/client-error.js';
import { limitConnections, listenerOptions } from '../http/connections.js';
import { answerFrameworkError, installErrorHandling } from '../http/error-handler.js';
import { HEALTH_ROUTES, healthRoutes, type Readiness } from '../http/health.js';
import { acceptJsonBodies } from '../http/json-content.js';
import { refuseUnreadQueries } from '../http/query-rule.js';
import { faultyHead, passExpectations } from '../http/request-head.js';
import { requestId } from '../http/request-id.js';
import { withoutRouteSchemas } from '../http/route-schemas.js';
import type { Logger, Metrics } from '../observability/index.js';
import { adminSessionRoutes } from '../sessions/admin-routes.js';
import { readCookie } from '../sessions/cookies.js';
import { assertBrowserOrigin, forbidden } from '../sessions/origin-guard.js';
import type { SessionService } from '../sessions/session-service.js';
import type { Store, TokenRecord } from '../store/index.js';
import { adminTemplateRoutes, type TemplateRegistry } from '../templates/index.js';
import { adminAuditRoutes } from './audit.js';
import { adminConversationRoutes } from './conversations.js';
import { adminDashboardRoutes, type DashboardSources } from './dashboard.js';
import { type AdminKeysOptions, adminKeyRoutes } from './keys.js';
import { adminTokenRoutes } from './tokens.js';
import { adminUiRoutes, DEFAULT_UI_DIR } from './ui.js';
import { ADMIN_COOKIE, ADMIN_KEY_ACTOR, AdminUiSessions } from './ui-sessions.js';
import { adminUsageRoutes } from './usage.js';

export interface AdminPlaneOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** The Prometheus exposition: this process's metrics, or every worker's together. */
  prometheus(): Promise<string>;
  /** Verifies the admin key; empty when none is configured, and then everything but health is 401. */
  adminVerifier: StaticKeyVerifier;
  readiness(): Promise<Readiness>;
  keys: AdminKeysOptions;
  tokens: TokenService;
  store: Store;
  /** Writes the usage and audit records still in memory (every worker's) before the store is read. */
  written(): Promise<void>;
  audit: AuditLog;
  /** Wrong admin credentials, counted per address as on the data plane. */
  failures: FailureGuard;
  sessions: SessionService;
  jwt: JwtVerifier | undefined;
  templates: TemplateRegistry;
  /** Whether a model name routes now: a stored template's model must. */
  routes: (model: string) => boolean;
  /** Why a model's targets cannot take a template's output schema (see `outputRefusal`). */
  outputRefusal: (model: string, schema: Record<string, unknown>) => string | undefined;
  conversations: ConversationService;
  /** The dashboard's live data; its static files come from `uiDir` (default: dist/ui). */
  dashboard: DashboardSources & { uiDir?: string };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The token acting on the admin API; null for the admin key itself. */
    adminActor: TokenRecord | null;
  }
}

/** A back end mints login codes for its users with a token holding the `sessions` scope. */
const mintsLoginCodes = (request: FastifyRequest): boolean =>
  request.method === 'POST' && request.url === '/admin/sessions';

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
    schemaController: withoutRouteSchemas,
    clientErrorHandler,
    frameworkErrors: answerFrameworkError,
    ...listenerOptions(options.config.server, options.config.admin.tls),
  }) as unknown as FastifyInstance;
  passExpectations(app.server);
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
    values: options.config.limits.jsonValues,
  });

  app.decorateRequest('adminActor', null);
  const uiSessions = new AdminUiSessions(options.store.adminSessions);
  const open = new Set([
    '/admin/ui',
    '/admin/ui/',
    '/admin/ui/assets/*',
    '/admin/ui/login',
    '/admin/ui/session',
    ...HEALTH_ROUTES,
  ]);

  /** The actor of a credential: null for the admin key, the token for an admin-scoped token. */
  const verify = async (request: FastifyRequest, credential: string): Promise<TokenRecord | null> => {
    const refuse = () => options.failures.failed(failureSubjects(request.ip, credential)) ?? unauthorized;
    if (!credential.startsWith(TOKEN_PREFIX)) {
      if (!adminVerifier.verify(credential)) throw refuse();
      return null;
    }
    const check = await options.tokens.verify(credential, request.ip);
    // Anything but `invalid` proves the secret: its holder learns why, as on the data plane.
    if (!('principal' in check)) throw check.failure === 'invalid' ? refuse() : TOKEN_FAILURES[check.failure];
    if (mintsLoginCodes(request) && check.principal.scopes.has('sessions')) return check.principal.record;
    if (!check.principal.scopes.has('admin')) {
      throw new GatewayError(403, 'permission_error', "This token does not have the 'admin' scope", {
        code: 'insufficient_scope',
      });
    }
    return check.principal.record;
  };

  /**
   * Keys, metrics and audit stay with the admin key; a token administers tokens only, and mints
   * login codes with the `sessions` scope, whether or not it also holds `admin`.
   */
  const allowed = (request: FastifyRequest, actor: TokenRecord | null): void => {
    if (actor === null || actor.scopes.includes('admin') === false) return;
    const url = request.url;
    if (url.startsWith('/admin/tokens') || url.startsWith('/admin/ui/')) return;
    if (mintsLoginCodes(request) && actor.scopes.includes('sessions')) return;
    throw new GatewayError(403, 'permission_error', 'Only the admin key may use this route', {
      code: 'admin_key_required',
    });
  };

  /**
   * A dashboard login records who it speaks for: an admin-scoped token, which must still be live,
   * or an admin key, which must still be configured (a changed admin key ends its logins).
   */
  const login = async (
    request: FastifyRequest,
    credential: string,
  ): Promise<{ actor: TokenRecord | null; recorded: string }> => {
    const actor = await verify(request, credential);
    if (actor) return { actor, recorded: actor.id };
    // `verify` answers null only for a configured admin key.
    return { actor, recorded: `${ADMIN_KEY_ACTOR}${adminVerifier.verify(credential)!.fingerprint}` };
  };
  const loggedIn = async (recorded: string): Promise<TokenRecord | null | undefined> => {
    if (!recorded.startsWith(ADMIN_KEY_ACTOR)) return options.tokens.liveRecord(recorded);
    return adminVerifier.holds(recorded.slice(ADMIN_KEY_ACTOR.length)) ? null : undefined;
  };

  /** The dashboard's calls carry its session cookie instead of a credential; CSRF-checked like the data plane's. */
  const sessionActor = async (request: FastifyRequest): Promise<TokenRecord | null | undefined> => {
    const recorded = await uiSessions.actorOf(readCookie(request.headers, ADMIN_COOKIE));
    if (recorded === undefined) return undefined;
    const actor = await loggedIn(recorded);
    if (actor === undefined) {
      await uiSessions.endFor(recorded);
      return undefined;
    }
    // Checked at login only, a login cookie taken elsewhere would work from any address.
    if (actor && !options.tokens.allowsAddress(actor, request.ip)) throw TOKEN_FAILURES.ip_not_allowed;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      // https as well on a plain listener: a proxy in front may end TLS for it.
      const host = request.headers.host;
      const own = options.config.admin.tls ? [`https://${host}`] : [`http://${host}`, `https://${host}`];
      assertBrowserOrigin(
        request,
        (origin) => own.includes(origin),
        () =>
          forbidden(
            `Dashboard changes must come from the dashboard's own origin (${own.join(' or ')})`,
            'origin_not_allowed',
          ),
      );
    }
    return actor;
  };

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    const fault = faultyHead(request);
    if (fault) throw fault;
    if (open.has(request.routeOptions.url ?? '')) return;
    const credential = extractCredential(request.raw);
    const actor = credential === undefined ? await sessionActor(request) : await verify(request, credential);
    if (actor === undefined)
      throw options.failures.failed(failureSubjects(request.ip, undefined)) ?? unauthorized;
    allowed(request, actor);
    request.adminActor = actor;
  });
  // The dashboard's pages and the probes are left to the browser and the scrapers.
  refuseUnreadQueries(app, (url) => url.startsWith('/admin/') && !url.startsWith('/admin/ui'));

  healthRoutes(app, options.readiness, true);
  adminKeyRoutes(app, { ...options.keys, audit: options.audit });
  adminTokenRoutes(app, { tokens: options.tokens, store: options.store, audit: options.audit });
  adminUsageRoutes(app, { store: options.store, written: options.written });
  adminAuditRoutes(app, { store: options.store, written: options.written });
  adminSessionRoutes(app, {
    sessions: options.sessions,
    jwt: options.jwt,
    store: options.store,
    audit: options.audit,
  });
  adminTemplateRoutes(app, {
    registry: options.templates,
    store: options.store,
    audit: options.audit,
    routes: options.routes,
    outputRefusal: options.outputRefusal,
  });
  adminConversationRoutes(app, { conversations: options.conversations, audit: options.audit });
  adminDashboardRoutes(app, options.dashboard);
  adminUiRoutes(app, {
    sessions: uiSessions,
    uiDir: options.dashboard.uiDir ?? DEFAULT_UI_DIR,
    login,
    current: sessionActor,
  });
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await options.prometheus()),
  );
  return app;
}
