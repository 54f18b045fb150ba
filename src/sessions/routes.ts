import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUDIT_EVENTS, type AuditSink, recordEvent } from '../audit/index.js';
import { addressSubject } from '../auth/address-subject.js';
import type { TokenPrincipal } from '../auth/index.js';
import { GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';
import type { SessionGrant, SessionRecord } from '../store/index.js';
import type { BrowserAccess, Refuse } from './browser-access.js';
import { REFRESH_COOKIE, readCookie, SESSION_COOKIE } from './cookies.js';
import type { Issued } from './session-service.js';

/** The data-plane routes that authenticate by themselves (a code, a refresh token, nothing). */
export const AUTH_ROUTES: ReadonlySet<string> = new Set([
  '/auth/session',
  '/auth/refresh',
  '/auth/logout',
  '/auth/guest',
]);

export interface AuthRoutesOptions {
  access: BrowserAccess;
  audit: AuditSink;
  refuse: Refuse;
  /** The guest grant when `auth.guest.enabled`, with how many guest logins an address may make per minute. */
  guest?: { grant: SessionGrant; perMinute: number; totalPerMinute: number };
}

const unauthorized = (message: string, code: string) =>
  new GatewayError(401, 'authentication_error', message, { code });
const BAD_CODE = unauthorized(
  'This login code is unknown, already used or expired; ask the app for a new one',
  'invalid_login_code',
);
const NO_REFRESH = unauthorized('No refresh cookie was sent; sign in again', 'missing_refresh_token');
const BAD_REFRESH = unauthorized(
  'The refresh token is not valid (unknown, expired, already used or revoked); sign in again',
  'invalid_refresh_token',
);
const GUEST_OFF = new GatewayError(403, 'permission_error', 'Guest access is not enabled on this gateway', {
  code: 'guest_disabled',
});

const codeBody = z.strictObject({ code: z.string().min(1).max(256) });

/**
 * What each route reads of a body, with a margin. These routes answer anyone, before any
 * credential is checked: with the listener's limit (10 MB), a body of 200,000 members cost half a
 * second of parsing per request, for a route that reads none of it. `keyward/client` sends `{}`
 * where no body is read; the longest code, each of its 256 characters escaped as `\uXXXX`, is
 * 1,547 bytes as `{"code":…}`.
 */
const NO_BODY_BYTES = 1024;
const CODE_BODY_BYTES = 4 * 1024;

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * What the session may do is told from the principal its requests are judged by: a guest's is the
 * guest grant configured now, not the one stored when it logged in.
 */
function describe(session: SessionRecord, principal: TokenPrincipal) {
  return {
    sessionId: session.id,
    userId: session.userId,
    guest: session.guest,
    scopes: principal.record.scopes,
    models: principal.record.models,
    expiresAt: iso(session.expiresAt),
    sessionExpiresAt: iso(session.accessExpiresAt),
  };
}

/** `/auth/*`: log in with a code, refresh, log out, describe the session, guest login. */
export function authRoutes(app: FastifyInstance, options: AuthRoutesOptions): void {
  const { access, audit, refuse } = options;
  // Never above the listener's own limit, should the operator have set it lower.
  const bodyLimit = (bytes: number) => Math.min(bytes, app.initialConfig.bodyLimit ?? bytes);
  /**
   * The refusals that need only the headers run before the body is read: an anonymous client
   * must not make the gateway read and parse a body that is refused anyway.
   */
  const fromAllowedOrigin = async (request: FastifyRequest) => access.assertOrigin(request);
  const noBody = { bodyLimit: bodyLimit(NO_BODY_BYTES), onRequest: fromAllowedOrigin };
  const issue = (reply: FastifyReply, issued: Issued) => {
    access.setCookies(reply, issued);
    return { userId: issued.session.userId, expiresAt: iso(issued.session.expiresAt) };
  };

  app.post(
    '/auth/session',
    { bodyLimit: bodyLimit(CODE_BODY_BYTES), onRequest: fromAllowedOrigin },
    async (request, reply) => {
      const { code } = parseInput(codeBody, request.body);
      const issued = await access.sessions.login(code);
      if (!issued) throw refuse(request, 'login_code', BAD_CODE);
      recordEvent(audit, AUDIT_EVENTS.sessionLogin, `ses_${issued.session.id}`, {
        sessionId: issued.session.id,
        ...(issued.session.userId && { userId: issued.session.userId }),
      });
      return issue(reply, issued);
    },
  );

  app.post('/auth/refresh', noBody, async (request, reply) => {
    const cookie = readCookie(request.headers, REFRESH_COOKIE);
    if (cookie === undefined) throw refuse(request, 'missing_refresh', NO_REFRESH);
    const result = await access.sessions.refresh(cookie, request.ip);
    if ('failure' in result) {
      if (result.failure === 'reused') reused(audit, request, result.session!);
      access.clearCookies(reply);
      throw refuse(request, `refresh_${result.failure}`, BAD_REFRESH);
    }
    return issue(reply, result);
  });

  app.post('/auth/logout', noBody, async (request, reply) => {
    const session = await access.sessions.logout(
      readCookie(request.headers, SESSION_COOKIE),
      readCookie(request.headers, REFRESH_COOKIE),
    );
    if (session) {
      recordEvent(audit, AUDIT_EVENTS.sessionLogout, `ses_${session.id}`, {
        sessionId: session.id,
        ...(session.userId && { userId: session.userId }),
      });
    }
    access.clearCookies(reply);
    return reply.code(204).send();
  });

  // No body limit: Fastify never reads the body of a GET.
  app.get('/auth/session', { onRequest: fromAllowedOrigin }, async (request) => {
    const { session, principal } = await access.current(request, refuse);
    return describe(session, principal);
  });

  const guests = new PerAddressWindow();
  const { guest } = options;
  const guestsOn = async (request: FastifyRequest) => {
    access.assertOrigin(request);
    if (!guest) throw GUEST_OFF;
  };
  app.post('/auth/guest', { ...noBody, onRequest: guestsOn }, async (request, reply) => {
    // `guestsOn` has refused the request when guests are off.
    const { grant, perMinute, totalPerMinute } = guest!;
    guests.take(request.ip, perMinute, totalPerMinute);
    const issued = await access.sessions.guest(grant);
    recordEvent(audit, AUDIT_EVENTS.sessionLogin, `ses_${issued.session.id}`, {
      sessionId: issued.session.id,
      guest: true,
    });
    return issue(reply, issued);
  });
}

function reused(audit: AuditSink, request: FastifyRequest, session: SessionRecord): void {
  recordEvent(audit, AUDIT_EVENTS.sessionRefreshReused, request.ip, {
    sessionId: session.id,
    ...(session.userId && { userId: session.userId }),
    reason: 'a replaced refresh token was presented again: the whole login is revoked',
  });
}

const WINDOW_MS = 60_000;
const MAX_ADDRESSES = 100_000;

/**
 * Guest logins per client address per minute, and from all addresses together: each one writes a
 * session to the store.
 */
class PerAddressWindow {
  private readonly windows = new Map<string, { startedAt: number; count: number }>();
  private total = { startedAt: 0, count: 0 };

  /**
   * The address's window first: a login it refuses does not count toward the total, so one
   * address cannot use up every other guest's logins.
   */
  take(clientIp: string, perMinute: number, totalPerMinute: number): void {
    const now = Date.now();
    // An IPv6 client counts per /64: it could take a fresh address for every login.
    const ip = addressSubject(clientIp);
    let window = this.windows.get(ip);
    if (!window || now - window.startedAt >= WINDOW_MS) {
      this.windows.delete(ip);
      if (this.windows.size >= MAX_ADDRESSES) this.windows.delete(this.windows.keys().next().value!);
      window = { startedAt: now, count: 0 };
      this.windows.set(ip, window);
    }
    if (window.count >= perMinute) throw tooManyLogins('from your address', window.startedAt, now);
    if (now - this.total.startedAt >= WINDOW_MS) this.total = { startedAt: now, count: 0 };
    if (this.total.count >= totalPerMinute) throw tooManyLogins('right now', this.total.startedAt, now);
    window.count++;
    this.total.count++;
  }
}

function tooManyLogins(where: string, startedAt: number, now: number): GatewayError {
  const retry = Math.ceil((startedAt + WINDOW_MS - now) / 1000);
  return new GatewayError(
    429,
    'rate_limit_error',
    `Too many guest logins ${where}; try again in ${retry} s`,
    {
      code: 'too_many_guest_logins',
      headers: { 'retry-after': String(retry) },
    },
  );
}
