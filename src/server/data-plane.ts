import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { assertNoQueryCredential, extractCredential, type StaticKeyVerifier } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { type KeyEvents, SecretString } from '../keys/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import type { Router } from '../routing/index.js';
import { openAIRoutes } from '../surfaces/openai/routes.js';
import './context.js';
import { clientErrorHandler } from './client-error.js';
import { installErrorHandling } from './error-handler.js';
import { GatewayError } from './errors.js';
import { Forwarder } from './forwarder.js';
import { HEALTH_ROUTES, healthRoutes } from './health.js';
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
  keyEvents: KeyEvents;
  isReady(): boolean;
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

  const jsonLimits = { depth: config.limits.jsonDepth, arrayItems: config.limits.arrayItems };
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string, jsonLimits));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  const authenticate = (request: FastifyRequest): void => {
    assertNoQueryCredential(request.url);
    if (HEALTH_ROUTES.has(request.routeOptions.url ?? '')) return;
    const credential = extractCredential(request.headers);
    if (credential === undefined) throw missingCredential;
    const principal = verifier.verify(credential);
    if (!principal) throw invalidCredential;
    request.kw.principal = principal;
    // A passthrough provider key is sealed at once and dropped from the headers, so that nothing
    // later (a log serializer, an error path) can read it as plain text.
    const providerKey = request.headers[PROVIDER_KEY_HEADER];
    if (providerKey !== undefined) {
      delete request.headers[PROVIDER_KEY_HEADER];
      const value = Array.isArray(providerKey) ? providerKey[0] : providerKey;
      if (value) request.kw.providerKey = new SecretString(value.trim());
    }
  };

  // A callback hook: an async one costs a promise per request on the hottest path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    trackRequest(request, reply, logger, metrics);
    try {
      authenticate(request);
      done();
    } catch (error) {
      done(error as Error);
    }
  });

  healthRoutes(app, options.isReady);
  app.register(openAIRoutes, {
    forwarder: new Forwarder(router, metrics, logger, options.keyEvents),
    router,
  });
  return app;
}
