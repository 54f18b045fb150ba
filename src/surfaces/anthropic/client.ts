import type { FastifyRequest } from 'fastify';
import type { ClientErrorsConfig } from '../types.js';

/**
 * Whether the request comes from an Anthropic client: one under `/v1/messages`, or on a route
 * outside it that answers Anthropic clients (see `ClientErrorsConfig`). Its errors take
 * Anthropic's envelope.
 */
export function isAnthropicClient(request: FastifyRequest): boolean {
  if (request.url.startsWith('/v1/messages')) return true;
  const config = request.routeOptions?.config as Partial<ClientErrorsConfig> | undefined;
  return config?.anthropicErrors?.(request) === true;
}
