import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { FailureGuard } from '../auth/failure-guard.js';
import type { StaticKeyVerifier, TokenService } from '../auth/index.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { ModelCatalog } from '../catalog/model-catalog.js';
import type { Config } from '../config/index.js';
import type { ConversationService } from '../conversations/index.js';
import { Forwarder } from '../forward/forwarder.js';
import type { ProviderRuntime } from '../forward/provider-runtime.js';
import { clientErrorHandler } from '../http/client-error.js';
import { limitConnections, listenerOptions, trustedPeers } from '../http/connections.js';
import type { RequestContext } from '../http/context.js';
import type { Cors } from '../http/cors.js';
import { answerFrameworkError, installErrorHandling } from '../http/error-handler.js';
import { healthRoutes, type Readiness } from '../http/health.js';
import { acceptJsonBodies } from '../http/json-content.js';
import { faultyHead, passExpectations } from '../http/request-head.js';
import { requestId } from '../http/request-id.js';
import { trackRequest } from '../http/request-log.js';
import { withoutRouteSchemas } from '../http/route-schemas.js';
import type { Admission } from '../limits/admission.js';
import { Ceilings } from '../limits/ceilings.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Router } from '../routing/index.js';
import type { BrowserAccess } from '../sessions/browser-access.js';
import { type AuthRoutesOptions, authRoutes } from '../sessions/routes.js';
import { anthropicRoutes } from '../surfaces/anthropic/routes.js';
import { geminiRoutes } from '../surfaces/gemini/routes.js';
import { openAIRoutes } from '../surfaces/openai/routes.js';
import { responsesRoutes } from '../surfaces/responses/routes.js';
import { type TemplateRegistry, templateRoutes } from '../templates/index.js';
import type { AnswerMemory } from '../upstream/index.js';
import { authenticator } from './authenticate.js';
import { refuseLoop } from './loop-guard.js';

export interface DataPlaneOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  router: Router<ProviderRuntime>;
  verifier: StaticKeyVerifier;
  /** Gateway tokens (`kw_…`); static keys keep working beside them. */
  tokens: TokenService;
  admission: Admission;
  failures: FailureGuard;
  /** Accounting when a response is over: limits settled, usage recorded, audit written. */
  onFinished(request: FastifyRequest, status: number, ms: number): void;
  /** A failed authentication, for the audit log and alerts. */
  onAuthFailure(request: FastifyRequest, reason: string): void;
  readiness(): Promise<Readiness>;
  /** Browsers: CORS, cookie sessions, bearer JWTs and the /auth routes. */
  browser?: {
    cors: Cors | undefined;
    access: BrowserAccess;
    routes: Omit<AuthRoutesOptions, 'access' | 'refuse'>;
    jwt: JwtVerifier | undefined;
  };
  templates: TemplateRegistry;
  /** Server-side conversation state (Responses and Conversations API). */
  conversations: ConversationService;
  /** The account of whole answers held at once; the process's when absent (`GatewayOptions.answers`). */
  answers?: AnswerMemory | undefined;
}

/** The client-facing listener: authentication, strict bodies, the API surfaces and health. */
export function createDataPlane(options: DataPlaneOptions): FastifyInstance {
  const { config, logger, metrics, router, browser } = options;
  const cors = browser?.cors;
  const app = Fastify({
    logger: false,
    bodyLimit: config.server.bodyLimit,
    genReqId: requestId,
    trustProxy: config.server.trustProxy.length > 0 ? config.server.trustProxy : false,
    return503OnClosing: true,
    schemaController: withoutRouteSchemas,
    clientErrorHandler,
    frameworkErrors: answerFrameworkError,
    ...listenerOptions(config.server, config.server.tls),
  }) as unknown as FastifyInstance;
  passExpectations(app.server);
  limitConnections(app.server, config.server, trustedPeers(config.server.trustProxy), (reason) =>
    metrics.connectionRefused('data', reason),
  );
  installErrorHandling(app, logger, config.server.bodyLimit);
  // Declared up front, so that setting it per request does not change the request object's shape.
  app.decorateRequest('kw', null as unknown as RequestContext);

  const jsonLimits = {
    depth: config.limits.jsonDepth,
    arrayItems: config.limits.arrayItems,
    values: config.limits.jsonValues,
  };
  acceptJsonBodies(app, jsonLimits);

  const { authenticate, refuse } = authenticator(options);

  // A callback hook: an async one costs a promise per request on the hottest path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    // Anthropic's SDKs read the id a caller quotes only from `request-id`.
    if (request.url.startsWith('/v1/messages')) reply.header('request-id', request.id);
    // Before CORS: a preflight's head is held to the same rules.
    const fault = faultyHead(request);
    if (!fault && cors?.handle(request, reply)) return;
    trackRequest(request, reply, logger, metrics, options.onFinished);
    if (fault) {
      done(fault);
      return;
    }
    let pending: void | Promise<void>;
    try {
      refuseLoop(request);
      pending = authenticate(request);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (pending) pending.then(() => done(), done);
    else done();
  });

  healthRoutes(app, options.readiness, false);
  app.get('/v1/rate-limit-status', (request) => options.admission.status(request));
  const forwarder = new Forwarder(
    router,
    metrics,
    logger,
    options.admission,
    new Ceilings(config.ceilings),
    options.answers,
  );
  const catalog = new ModelCatalog({
    onError: (provider, reason) =>
      logger.warn({ provider }, `cannot read the provider's model list: ${reason}`),
  });
  const { conversations } = options;
  app.register(openAIRoutes, { forwarder, router, catalog, conversations, logger });
  app.register(anthropicRoutes, { forwarder, conversations, logger });
  app.register(geminiRoutes, { forwarder, router, catalog, conversations, logger });
  app.register(responsesRoutes, {
    forwarder,
    admission: options.admission,
    conversations,
    logger,
    bodyLimit: config.server.bodyLimit,
  });
  app.register(templateRoutes, {
    forwarder,
    router,
    registry: options.templates,
    conversations,
    logger,
    bodyLimit: config.server.bodyLimit,
  });
  if (browser) authRoutes(app, { ...browser.routes, access: browser.access, refuse });
  return app;
}
