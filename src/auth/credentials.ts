import type { IncomingHttpHeaders } from 'node:http';
import { badRequest, GatewayError } from '../errors/gateway-error.js';

/** Query parameters that carry credentials in some APIs; refused so keys never land in access logs. */
const QUERY_CREDENTIALS = new Set([
  'key',
  'api_key',
  'api-key',
  'apikey',
  'access_token',
  'token',
  'x-api-key',
]);

/** Rejects a URL whose query string carries something that looks like a credential. */
export function assertNoQueryCredential(url: string): void {
  const q = url.indexOf('?');
  if (q === -1) return;
  for (const name of new URLSearchParams(url.slice(q + 1)).keys()) {
    if (QUERY_CREDENTIALS.has(name.toLowerCase())) {
      // Gemini's own clients know the key as `x-goog-api-key` (the header its SDK sends): its
      // routes are under /v1beta/, and under /v1/ those that name a method (`…:generateContent`).
      const path = url.slice(0, q);
      const gemini = path.startsWith('/v1beta/') || (path.startsWith('/v1/') && path.includes(':'));
      const header = gemini ? 'x-goog-api-key' : 'Authorization';
      throw badRequest(
        `Credentials are not accepted in the query string (found '${name}'); send them in the ${header} header`,
        { code: 'credential_in_query', param: name },
      );
    }
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The client's credential from `Authorization: Bearer`, `x-api-key` or `x-goog-api-key`.
 * The same value in several headers is fine (some SDKs do that); different values are refused
 * because which one "wins" would be a guess.
 */
export function extractCredential(headers: IncomingHttpHeaders): string | undefined {
  let found: string | undefined;
  const authorization = single(headers.authorization);
  if (authorization !== undefined) {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    if (!match) {
      throw new GatewayError(
        401,
        'authentication_error',
        'The Authorization header must use the Bearer scheme',
        {
          code: 'invalid_authorization_header',
        },
      );
    }
    found = match[1];
  }
  for (const name of ['x-api-key', 'x-goog-api-key'] as const) {
    const value = single(headers[name])?.trim();
    if (!value) continue;
    if (found !== undefined && found !== value) {
      throw badRequest('The request carries two different credentials; send exactly one', {
        code: 'conflicting_credentials',
      });
    }
    found = value;
  }
  return found;
}
