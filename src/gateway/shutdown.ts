import type { FastifyInstance } from 'fastify';
import type { Logger } from '../observability/index.js';

/**
 * Stops the listeners accepting, lets in-flight requests and streams finish for up to `graceMs`,
 * then cuts the connections still open.
 */
export async function drain(
  listeners: readonly FastifyInstance[],
  graceMs: number,
  logger: Logger,
): Promise<void> {
  const closing = Promise.all(listeners.map((app) => app.close()));
  // server.close() drops the connections idle at that moment only; a keep-alive connection
  // whose last response finishes during the drain must be dropped too, or close() waits for
  // the client to hang up.
  const sweep = setInterval(() => {
    for (const app of listeners) app.server.closeIdleConnections();
  }, 50);
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), graceMs);
  });
  if ((await Promise.race([closing, expired])) === 'expired') {
    logger.warn({ graceMs }, 'shutdown grace period over: closing the connections still open');
    for (const app of listeners) app.server.closeAllConnections();
    await closing;
  }
  clearTimeout(timer);
  clearInterval(sweep);
}
