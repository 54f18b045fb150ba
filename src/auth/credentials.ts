import type { IncomingMessage } from 'node:http';
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

type CredentialHeader = 'authorization' | 'x-api-key' | 'x-goog-api-key';
type SentHeaders = Pick<IncomingMessage, 'headers' | 'rawHeaders'>;

/**
 * Every value of a credential header as the client sent it. Node keeps only the first
 * `Authorization` and joins repeated others with ", ", so a request with two would be judged by
 * one of them (or by their join), while a proxy in front may have judged the other.
 */
function sent(request: SentHeaders, name: CredentialHeader): string[] {
  // Absent from the parsed headers, absent from the raw ones: most requests skip the scan.
  if (request.headers[name] === undefined) return [];
  const raw = request.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) values.push(raw[i + 1]!);
  }
  return values;
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * The client's credential from `Authorization: Bearer`, `x-api-key` or `x-goog-api-key`, each
 * header read as often as it was sent (`rawHeaders`). The same value in several headers is fine
 * (some SDKs do that); different values are refused because which one "wins" would be a guess.
 */
export function extractCredential(request: SentHeaders): string | undefined {
  let found: string | undefined;
  const take = (value: string): void => {
    if (found !== undefined && found !== value) {
      throw badRequest('The request carries two different credentials; send exactly one', {
        code: 'conflicting_credentials',
      });
    }
    found = value;
  };
  for (const authorization of sent(request, 'authorization')) {
    const match = BEARER.exec(authorization);
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
    take(match[1]!);
  }
  for (const name of ['x-api-key', 'x-goog-api-key'] as const) {
    for (const value of sent(request, name)) {
      const key = value.trim();
      if (key) take(key);
    }
  }
  return found;
}
