import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';

export interface CorsSettings {
  /** Exact origins (scheme://host[:port]). */
  origins: readonly string[];
  /** Seconds a browser may cache a preflight answer. */
  maxAge: number;
}

const originNotAllowed = new GatewayError(
  403,
  'permission_error',
  'This origin is not allowed to call the gateway; add it to server.cors.origins',
  { code: 'origin_not_allowed' },
);

/** What browser code may read from a response: request ids, retry hints (the SDKs' `x-should-retry`), quota headers. */
const EXPOSED = [
  'x-request-id',
  'request-id',
  'retry-after',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'x-keyward-unanswered-attempts',
  'x-should-retry',
].join(', ');
const METHODS = 'GET, POST, DELETE, OPTIONS';
/** Header names as HTTP defines them (tokens), bounded: anything else in a preflight is refused. */
const HEADER_LIST = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+){0,63}$/;

/**
 * CORS for the data plane. Preflights are answered here, before authentication (a browser never
 * sends credentials with them). `Access-Control-Allow-Origin` is only ever an exact configured
 * origin, echoed, with credentials allowed: never `*`, never `null`.
 */
export class Cors {
  private readonly origins: ReadonlySet<string>;
  private readonly maxAge: string;

  constructor(settings: CorsSettings) {
    this.origins = new Set(settings.origins);
    this.maxAge = String(settings.maxAge);
  }

  allows(origin: string | undefined): boolean {
    return origin !== undefined && this.origins.has(origin);
  }

  /**
   * Adds the CORS headers to a response; answers a preflight itself and then returns true (the
   * caller must not go on with the request).
   */
  handle(request: FastifyRequest, reply: FastifyReply): boolean {
    reply.header('vary', 'Origin');
    const { origin } = request.headers;
    const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'];
    if (!this.allows(origin)) {
      if (!preflight) return false;
      // Through the error handler: the envelope of the surface the preflight was for.
      reply.send(originNotAllowed);
      return true;
    }
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-allow-credentials', 'true');
    if (!preflight) {
      reply.header('access-control-expose-headers', EXPOSED);
      return false;
    }
    const asked = request.headers['access-control-request-headers'];
    // The allowed headers echo the asked ones: a cache between must not answer other asks with them.
    reply.header('vary', 'Origin, Access-Control-Request-Headers');
    reply.header('access-control-allow-methods', METHODS);
    if (typeof asked === 'string' && HEADER_LIST.test(asked.trim()))
      reply.header('access-control-allow-headers', asked.trim());
    reply.header('access-control-max-age', this.maxAge);
    reply.code(204).send();
    return true;
  }
}
