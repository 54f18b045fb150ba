import type { FastifyInstance } from 'fastify';

/** The probe routes, served without a credential on both listeners. */
export const HEALTH_ROUTES: ReadonlySet<string> = new Set(['/health', '/ready']);

/** Liveness answers while the process runs; readiness turns 503 as soon as shutdown begins. */
export function healthRoutes(app: FastifyInstance, isReady: () => boolean): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) =>
    isReady() ? { status: 'ready' } : reply.code(503).send({ status: 'shutting_down' }),
  );
}
