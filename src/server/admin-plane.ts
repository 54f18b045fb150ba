import Fastify, { type FastifyInstance } from 'fastify';
import { extractCredential } from '../auth/credentials.js';
import type { StaticKeyVerifier } from '../auth/static-keys.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { installErrorHandling } from './error-handler.js';
import { GatewayError } from './errors.js';
import { requestId } from './request-id.js';

export interface AdminPlaneOptions {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  /** Verifies the admin key; empty when none is configured, and then everything but health is 401. */
  adminVerifier: StaticKeyVerifier;
  isReady(): boolean;
}

const PUBLIC = new Set(['/health', '/ready']);
const unauthorized = new GatewayError(401, 'authentication_error', 'Admin credential required', {
  code: 'admin_credential_required',
});

/** The operator-facing listener, kept separate so it can stay on a private interface. */
export function createAdminPlane(options: AdminPlaneOptions): FastifyInstance {
  const { logger, metrics, adminVerifier } = options;
  const app = Fastify({ logger: false, genReqId: requestId, bodyLimit: 1024 * 1024 });
  installErrorHandling(app, logger, 1024 * 1024);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    if (PUBLIC.has(request.routeOptions.url ?? '')) return;
    const credential = extractCredential(request.headers);
    if (credential === undefined || !adminVerifier.verify(credential)) throw unauthorized;
  });

  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) =>
    options.isReady() ? { status: 'ready' } : reply.code(503).send({ status: 'shutting_down' }),
  );
  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.render()),
  );
  return app;
}
