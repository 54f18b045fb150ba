import { GatewayError } from '../errors/gateway-error.js';
import type { TokenPrincipal } from './tokens.js';

/**
 * What the data plane needs of JWTs without the verifier: the shape test and the answers. Kept
 * apart from `jwt.ts` so that a gateway without `auth.jwt` issuers never loads jose.
 */

export type JwtFailure = 'invalid' | 'expired' | 'revoked';
export type JwtCheck = { principal: TokenPrincipal } | { failure: JwtFailure };

const unauthorized = (message: string, code: string) =>
  new GatewayError(401, 'authentication_error', message, { code });

/** Generic on purpose: which check failed (issuer, audience, algorithm, key) is not said. */
export const JWT_FAILURES: Record<JwtFailure, GatewayError> = {
  invalid: unauthorized(
    'The bearer JWT was not accepted: check its issuer, audience, signing key and algorithm against the gateway configuration (auth.jwt)',
    'invalid_jwt',
  ),
  expired: unauthorized('The JWT has expired; get a new one from your identity provider', 'jwt_expired'),
  revoked: unauthorized('This JWT has been revoked; sign in again', 'jwt_revoked'),
};

const JWT_SHAPE = /^eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a bearer credential is shaped like a JWT (gateway tokens and static keys are not). */
export function looksLikeJwt(credential: string): boolean {
  return credential.startsWith('eyJ') && JWT_SHAPE.test(credential);
}
