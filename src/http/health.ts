import type { FastifyInstance } from 'fastify';

/** The probe routes, served without a credential on both listeners. */
export const HEALTH_ROUTES: ReadonlySet<string> = new Set(['/health', '/ready']);

/**
 * `ready`: serving. `degraded`: serving, but some provider has no usable key (its models answer
 * 503; the others work, so the instance stays in rotation). `unavailable`: the store, or a Redis
 * whose outage refuses every request (rate limits failing closed), cannot be reached.
 * `shutting_down`: draining.
 */
export interface Readiness {
  status: 'ready' | 'degraded' | 'unavailable' | 'shutting_down';
  problems?: string[];
}

const SERVING = new Set<Readiness['status']>(['ready', 'degraded']);

/**
 * Liveness answers while the process runs; readiness answers 503 when the instance cannot serve.
 * Only the admin listener names the problems: the data plane is open to clients, and provider ids
 * and backends are the operator's business.
 */
export function healthRoutes(
  app: FastifyInstance,
  readiness: () => Promise<Readiness>,
  detailed: boolean,
): void {
  app.get('/health', async () => ({ status: 'ok' }));
  app.get('/ready', async (_request, reply) => {
    const state = await readiness();
    const body = detailed || !state.problems ? state : { status: state.status };
    return reply.code(SERVING.has(state.status) ? 200 : 503).send(body);
  });
}
