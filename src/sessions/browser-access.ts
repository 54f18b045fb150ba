import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { clearCookie, REFRESH_COOKIE, readCookie, SESSION_COOKIE, setCookie } from './cookies.js';
import { assertBrowserOrigin, forbidden } from './origin-guard.js';
import type { Issued, SessionCheck, SessionFailure, SessionService } from './session-service.js';

/** Counts a failed authentication (brute-force guard, audit, alerts) and returns the error to throw. */
export type Refuse = (request: FastifyRequest, reason: string, error: GatewayError) => GatewayError;

const unauthorized = (message: string, code: string) =>
  new GatewayError(401, 'authentication_error', message, { code });

const COOKIE_FAILURES: Record<SessionFailure, GatewayError> = {
  invalid: unauthorized('The session cookie is not valid; sign in again', 'invalid_session'),
  expired: unauthorized('The session has expired; POST /auth/refresh to renew it', 'session_expired'),
  revoked: unauthorized('This session has ended; sign in again', 'session_ended'),
};

/**
 * A page's call that carries no credential (a CORS preflight never does): named for what it is, not
 * as a cookie request, as the browser may have withheld its cookie or the page may use a bearer.
 */
const NOT_ALLOWED_ORIGIN = forbidden(
  'This origin is not allowed to call the gateway; add it to server.cors.origins',
  'origin_not_allowed',
);

/**
 * Cookie credentials on the data plane: the origin check (CSRF) comes first, then the session
 * cookie is verified like a gateway token, from memory.
 */
export class BrowserAccess {
  constructor(
    readonly sessions: SessionService,
    private readonly allowsOrigin: (origin: string) => boolean,
  ) {}

  sessionCookie(request: FastifyRequest): string | undefined {
    return readCookie(request.headers, SESSION_COOKIE);
  }

  assertOrigin(request: FastifyRequest): void {
    assertBrowserOrigin(request, this.allowsOrigin);
  }

  /**
   * A browser request from an origin that is not allowed, with no credential: refused as such
   * (a cross-site form post gets 403, whether or not its browser sent the cookie). The origin
   * only: from an allowed one, a request without a credential lacks that, whatever its body (the
   * JSON rule guards cookie requests, and there is no cookie).
   */
  assertNotForeign(request: FastifyRequest): void {
    const { origin } = request.headers;
    if (origin !== undefined && !this.allowsOrigin(origin)) throw NOT_ALLOWED_ORIGIN;
  }

  /** Sets the request's principal from its session cookie, or throws a 401/403. */
  authenticate(request: FastifyRequest, cookie: string, refuse: Refuse): void | Promise<void> {
    this.assertOrigin(request);
    const check = this.sessions.verify(cookie, request.ip);
    if (check instanceof Promise) return check.then((result) => this.accept(request, result, refuse));
    this.accept(request, check, refuse);
  }

  /** The caller's live session from its cookie, for `GET /auth/session`. */
  async current(
    request: FastifyRequest,
    refuse: Refuse,
  ): Promise<Extract<SessionCheck, { session: unknown }>> {
    const cookie = this.sessionCookie(request);
    if (cookie === undefined) throw refuse(request, 'missing', COOKIE_FAILURES.invalid);
    const check = await this.sessions.verify(cookie, request.ip);
    if ('failure' in check) throw refuse(request, `session_${check.failure}`, COOKIE_FAILURES[check.failure]);
    return check;
  }

  /** Sets both cookies of a new or rotated session. */
  setCookies(reply: FastifyReply, issued: Issued): void {
    const now = Date.now();
    const { settings } = this.sessions;
    reply.header('set-cookie', [
      setCookie(SESSION_COOKIE, issued.sessionCookie, settings.sessionTtlMs / 1000),
      setCookie(REFRESH_COOKIE, issued.refreshCookie, (issued.session.expiresAt - now) / 1000),
    ]);
    reply.header('cache-control', 'no-store');
  }

  clearCookies(reply: FastifyReply): void {
    reply.header('set-cookie', [clearCookie(SESSION_COOKIE), clearCookie(REFRESH_COOKIE)]);
    reply.header('cache-control', 'no-store');
  }

  private accept(request: FastifyRequest, check: SessionCheck, refuse: Refuse): void {
    if ('failure' in check) throw refuse(request, `session_${check.failure}`, COOKIE_FAILURES[check.failure]);
    request.kw.principal = check.principal;
  }
}
