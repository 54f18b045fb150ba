import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger, Metrics } from '../observability/index.js';
import { newRequestContext } from './context.js';
import { closeWithConnection } from './queued-response.js';
import { answeredBeside } from './request-id.js';

/** What is logged for a request whose client left before the response was complete (nginx's 499). */
const CLIENT_GONE = { status: 499, code: undefined };

/**
 * Starts the per-request record and arranges for exactly one log line and one metrics update when
 * the response is over, however it ends (finished, failed, or abandoned by the client).
 */
export function trackRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  logger: Logger,
  metrics: Metrics,
  onFinished: (request: FastifyRequest, status: number, ms: number) => void,
): void {
  const route = request.routeOptions.url ?? 'unmatched';
  request.kw = newRequestContext(route);
  metrics.requestStarted(route);
  closeWithConnection(reply.raw, request.raw.socket);
  reply.raw.once('close', () => {
    const ctx = request.kw;
    // Unfinished: the client left, unless the connection's error handler answered it.
    const beside = reply.raw.writableFinished ? undefined : (answeredBeside(request.raw) ?? CLIENT_GONE);
    if (beside?.code) ctx.errorCode ??= beside.code;
    const status = beside?.status ?? reply.raw.statusCode;
    const ms = performance.now() - ctx.startedAt;
    onFinished(request, status, ms);
    metrics.requestFinished(
      { route, model: ctx.model ?? 'none', provider: ctx.provider ?? 'none', status },
      ms / 1000,
    );
    if (ctx.template) metrics.templateRunFinished(ctx.template, status);
    logger.info({
      reqId: request.id,
      method: request.method,
      route,
      client: ctx.principal?.fingerprint,
      ip: request.ip,
      model: ctx.model ?? ctx.askedModel,
      provider: ctx.provider,
      template: ctx.template,
      status,
      ms: Math.round(ms * 100) / 100,
      attempts: ctx.attempts,
      tokens: ctx.usage,
      costMicros: ctx.costMicros,
      streamError: ctx.streamError,
      errorCode: ctx.errorCode,
    });
  });
}
