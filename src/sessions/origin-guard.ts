import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

export const forbidden = (message: string, code: string) =>
  new GatewayError(403, 'permission_error', message, { code });

const FOREIGN_ORIGIN = forbidden(
  'Requests authenticated by cookie must come from an allowed origin (server.cors.origins)',
  'origin_not_allowed',
);
const NO_ORIGIN = forbidden(
  'Requests authenticated by cookie must carry an Origin header from an allowed origin (or Sec-Fetch-Site: same-origin)',
  'origin_required',
);
const NOT_JSON = forbidden(
  'Requests authenticated by cookie must send their body as application/json',
  'json_body_required',
);

/** `application/json`, with or without parameters such as `; charset=utf-8`. */
const isJson = (contentType: string): boolean => {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase() === 'application/json';
};

/**
 * CSRF defence for cookie-authenticated requests and the /auth routes: the browser states where
 * a request comes from in `Origin` (or `Sec-Fetch-Site`), which page script cannot forge, and a
 * cross-site form can only send form or text bodies, never JSON. Throws a 403 naming the reason
 * (`foreign` for an origin not allowed, where the caller knows better what is).
 */
export function assertBrowserOrigin(
  request: FastifyRequest,
  allows: (origin: string) => boolean,
  foreign: () => GatewayError = () => FOREIGN_ORIGIN,
): void {
  const { origin } = request.headers;
  if (origin !== undefined) {
    if (!allows(origin)) throw foreign();
  } else if (request.headers['sec-fetch-site'] !== 'same-origin') {
    throw NO_ORIGIN;
  }
  const contentType = request.headers['content-type'];
  const hasBody =
    contentType !== undefined ||
    request.headers['transfer-encoding'] !== undefined ||
    (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0');
  if (hasBody && (contentType === undefined || !isJson(contentType))) throw NOT_JSON;
}
