import type { FastifyRequest } from 'fastify';
import type { ClientErrorsConfig } from '../types.js';

/**
 * Whether the request comes from a Gemini client: one under `/v1beta/`, or on a route outside it
 * that answers Gemini clients (see `ClientErrorsConfig`). Its errors take Google's envelope and
 * name what Google's SDKs send.
 */
export function isGeminiClient(request: FastifyRequest): boolean {
  if (request.url.startsWith('/v1beta/')) return true;
  const config = request.routeOptions?.config as Partial<ClientErrorsConfig> | undefined;
  return config?.geminiErrors?.(request) === true;
}
