import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  assertNoQueryCredential,
  extractCredential,
  type StaticKeyVerifier,
  TOKEN_PREFIX,
  type TokenCheck,
  type TokenFailure,
  type TokenService,
} from '../auth/index.js';
import type { Config } from '../config/index.js';
import type { ConversationService } from '../conversations/index.js';
import { type KeyEvents, SecretString } from '../keys/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Router } from '../routing/index.js';
import { anthropicRoutes } from '../surfaces/anthropic/routes.js';
import { openAIRoutes } from '../surfaces/openai/routes.js';
import { responsesRoutes } from '../surfaces/responses/routes.js';
import type { Admission } from './admission.js';
import { clientErrorHandler } from './client-error.js';
import type { RequestContext } from './context.js';
import { installErrorHandling } from './error-handler.js';
import { GatewayError } from './errors.js';
import type { FailureGuard } from './failure-guard.js';
import { Forwarder } from './forwarder.js';
import { HEALTH_ROUTES, healthRoutes, type Readiness } from './health.js';
import { parseJsonBody } from './json-body.js';
import type { ProviderRuntime } from './provider-runtime.js';
import { requestId } from './request-id.js';
import { trackRequest } from './request-log.js';

export interface DataPlaneOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  router: Router<ProviderRuntime>;
  verifier: StaticKeyVerifier;
  /** Gateway tokens (`kw_…`); static keys keep working beside them. */
  tokens: TokenService;
  keyEvents: KeyEvents;
  admission: Admission;
  failures: FailureGuard;
  /** Accounting when a response is over: limits settled, usage recorded, audit written. */
  onFinished(request: FastifyRequest, status: number, ms: number): void;
  /** A failed authentication, for the audit log and alerts. */
  onAuthFailure(request: FastifyRequest, reason: string): void;
  readiness(): Promise<Readiness>;
  /** Server-side conversation state (Responses and Conversations API). */
  conversations: ConversationService;
}

const PROVIDER_KEY_HEADER = 'x-provider-api-key';

const missingCredential = new GatewayError(
  401,
  'authentication_error',
  'Missing credential: send your Keyward key as "Authorization: Bearer <key>"',
  { code: 'missing_credential' },
);
const invalidCredential = new GatewayError(401, 'authentication_error', 'Invalid credential', {
  code: 'invalid_credential',
});
const TOKEN_FAILURES: Record<TokenFailure, GatewayError> = {
  invalid: invalidCredential,
  revoked: new GatewayError(401, 'authentication_error', 'This token has been revoked', {
    code: 'token_revoked',
  }),
  expired: new GatewayError(401, 'authentication_error', 'This token has expired', { code: 'token_expired' }),
  ip_not_allowed: new GatewayError(403, 'permission_error', 'This token may not be used from your address', {
    code: 'ip_not_allowed',
  }),
};

/** The client-facing listener: authentication, strict bodies, the API surfaces and health. */
export function createDataPlane(options: DataPlaneOptions): FastifyInstance {
  const { config, logger, metrics, router, verifier } = options;
  const app = Fastify({
    logger: false,
    bodyLimit: config.server.bodyLimit,
    genReqId: requestId,
    trustProxy: config.server.trustProxy.length > 0 ? config.server.trustProxy : false,
    return503OnClosing: true,
    clientErrorHandler,
    // Fastify disables Node's request timeout; a gateway facing clients directly needs it, and
    // Node only checks it every connectionsCheckingInterval.
    requestTimeout: config.server.requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, config.server.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, config.server.requestTimeoutMs / 4)),
    },
  });
  installErrorHandling(app, logger, config.server.bodyLimit);
  // Declared up front, so that setting it per request does not change the request object's shape.
  app.decorateRequest('kw', null as unknown as RequestContext);

  const jsonLimits = { depth: config.limits.jsonDepth, arrayItems: config.limits.arrayItems };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string, jsonLimits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  const refuse = (request: FastifyRequest, reason: string, error: GatewayError): GatewayError => {
    options.failures.failed(request.ip);
    options.onAuthFailure(request, reason);
    return error;
  };

  const accept = (request: FastifyRequest, check: TokenCheck): void => {
    if ('failure' in check) throw refuse(request, check.failure, TOKEN_FAILURES[check.failure]);
    request.kw.principal = check.principal;
  };

  /** Returns a promise only for a token the cache does not hold yet (one store read). */
  const authenticate = (request: FastifyRequest): void | Promise<void> => {
    assertNoQueryCredential(request.url);
    if (HEALTH_ROUTES.has(request.routeOptions.url ?? '')) return;
    // A passthrough provider key is sealed at once and dropped from the headers, so that nothing
    // later (a log serializer, an error path) can read it as plain text.
    const providerKey = request.headers[PROVIDER_KEY_HEADER];
    if (providerKey !== undefined) {
      delete request.headers[PROVIDER_KEY_HEADER];
      const value = Array.isArray(providerKey) ? providerKey[0] : providerKey;
      if (value) request.kw.providerKey = new SecretString(value.trim());
    }
    options.failures.check(request.ip);
    const credential = extractCredential(request.headers);
    if (credential === undefined) throw refuse(request, 'missing', missingCredential);
    if (credential.startsWith(TOKEN_PREFIX)) {
      const check = options.tokens.verify(credential, request.ip);
      if (check instanceof Promise) return check.then((result) => accept(request, result));
      return accept(request, check);
    }
    const principal = verifier.verify(credential);
    if (!principal) throw refuse(request, 'invalid', invalidCredential);
    request.kw.principal = principal;
  };

  // A callback hook: an async one costs a promise per request on the hottest path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    trackRequest(request, reply, logger, metrics, options.onFinished);
    let pending: void | Promise<void>;
    try {
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
  const forwarder = new Forwarder(router, metrics, logger, options.keyEvents, options.admission);
  const { conversations } = options;
  app.register(openAIRoutes, { forwarder, router, conversations, logger });
  app.register(anthropicRoutes, { forwarder, conversations, logger });
  const { contextTokens } = config.conversations;
  app.register(responsesRoutes, { forwarder, conversations, logger, contextTokens });
  return app;
}
