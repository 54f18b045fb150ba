import type { FastifyRequest } from 'fastify';
import { type FailureGuard, failureSubjects } from '../auth/failure-guard.js';
import {
  assertNoQueryCredential,
  extractCredential,
  type StaticKeyVerifier,
  TOKEN_PREFIX,
  type TokenCheck,
  type TokenService,
} from '../auth/index.js';
import type { JwtVerifier } from '../auth/jwt.js';
import { JWT_FAILURES, type JwtCheck, looksLikeJwt } from '../auth/jwt-check.js';
import { TOKEN_FAILURES } from '../auth/token-failures.js';
import { GatewayError } from '../errors/gateway-error.js';
import { HEALTH_ROUTES } from '../http/health.js';
import { SecretString } from '../keys/index.js';
import type { BrowserAccess, Refuse } from '../sessions/browser-access.js';
import { AUTH_ROUTES } from '../sessions/routes.js';
import { isGeminiClient } from '../surfaces/gemini/client.js';

export interface AuthenticateOptions {
  verifier: StaticKeyVerifier;
  /** Gateway tokens (`kw_…`); static keys keep working beside them. */
  tokens: TokenService;
  failures: FailureGuard;
  /** A failed authentication, for the audit log and alerts. */
  onAuthFailure(request: FastifyRequest, reason: string): void;
  /** Browsers' credentials: session cookies, and bearer JWTs from the app's identity provider. */
  browser?: { access: BrowserAccess; jwt: JwtVerifier | undefined } | undefined;
}

const PROVIDER_KEY_HEADER = 'x-provider-api-key';

/**
 * The refusals that are guesses: no credential, or one that matches nothing (a token, a session
 * cookie, a JWT, a login code). Revoked, expired or misplaced credentials prove a secret once held.
 */
const GUESSES: ReadonlySet<string> = new Set([
  'missing',
  'invalid',
  'session_invalid',
  'jwt_invalid',
  'login_code',
  'refresh_invalid',
]);

const missingCredential = new GatewayError(
  401,
  'authentication_error',
  'Missing credential: send your Keyward key as "Authorization: Bearer <key>"',
  { code: 'missing_credential' },
);
/** Gemini's SDKs and Google's curl examples send the key in x-goog-api-key: its clients are told that. */
const missingGeminiCredential = new GatewayError(
  401,
  'authentication_error',
  'Missing credential: send your Keyward key as "x-goog-api-key: <key>"',
  { code: 'missing_credential' },
);
const invalidCredential = TOKEN_FAILURES.invalid;

/**
 * The data plane's first stage: the request's credential becomes its principal (a static key's or
 * a gateway token's), or the request is refused.
 */
export function authenticator({ verifier, tokens, failures, onAuthFailure, browser }: AuthenticateOptions): {
  authenticate(request: FastifyRequest): void | Promise<void>;
  refuse: Refuse;
} {
  const jwt = browser?.jwt;
  /**
   * A guess (no credential, or one that matches nothing) counts against the address and the token
   * id; over the limit it is answered 429. A failure that proves the secret (revoked, expired,
   * wrong address) is no guess and keeps its own answer.
   */
  const refuse = (
    request: FastifyRequest,
    reason: string,
    error: GatewayError,
    credential?: string,
  ): GatewayError => {
    onAuthFailure(request, reason);
    if (!GUESSES.has(reason)) return error;
    return failures.failed(failureSubjects(request.ip, credential)) ?? error;
  };

  const accept = (request: FastifyRequest, check: TokenCheck, credential: string): void => {
    if ('failure' in check) throw refuse(request, check.failure, TOKEN_FAILURES[check.failure], credential);
    request.kw.principal = check.principal;
  };

  const acceptJwt = (request: FastifyRequest, check: JwtCheck): void => {
    if ('failure' in check) throw refuse(request, `jwt_${check.failure}`, JWT_FAILURES[check.failure]);
    request.kw.principal = check.principal;
  };

  /** Returns a promise only for a token the cache does not hold yet (one store read). */
  const authenticate = (request: FastifyRequest): void | Promise<void> => {
    assertNoQueryCredential(request.url);
    const route = request.routeOptions.url ?? '';
    // The /auth routes check their own credentials (a login code, the refresh cookie).
    if (HEALTH_ROUTES.has(route) || AUTH_ROUTES.has(route)) return;
    // A passthrough provider key is sealed at once and dropped from the headers, so that nothing
    // later (a log serializer, an error path) can read it as plain text.
    const providerKey = request.headers[PROVIDER_KEY_HEADER];
    if (providerKey !== undefined) {
      delete request.headers[PROVIDER_KEY_HEADER];
      const value = Array.isArray(providerKey) ? providerKey[0] : providerKey;
      if (value) request.kw.providerKey = new SecretString(value.trim());
    }
    const credential = extractCredential(request.raw);
    if (credential === undefined) {
      const cookie = browser?.access.sessionCookie(request);
      if (cookie === undefined) {
        browser?.access.assertNotForeign(request);
        throw refuse(
          request,
          'missing',
          isGeminiClient(request) ? missingGeminiCredential : missingCredential,
        );
      }
      return browser!.access.authenticate(request, cookie, refuse);
    }
    if (credential.startsWith(TOKEN_PREFIX)) {
      const check = tokens.verify(credential, request.ip);
      if (check instanceof Promise) return check.then((result) => accept(request, result, credential));
      return accept(request, check, credential);
    }
    if (jwt && looksLikeJwt(credential)) {
      const check = jwt.verify(credential);
      if (check instanceof Promise) return check.then((result) => acceptJwt(request, result));
      return acceptJwt(request, check);
    }
    const principal = verifier.verify(credential);
    if (!principal) throw refuse(request, 'invalid', invalidCredential, credential);
    request.kw.principal = principal;
  };

  return { authenticate, refuse };
}
