import { GatewayError } from '../errors/gateway-error.js';
import type { TokenFailure } from './tokens.js';

/** What a gateway token's failure is answered with, on the data plane and the admin listener alike. */
export const TOKEN_FAILURES: Record<TokenFailure, GatewayError> = {
  invalid: new GatewayError(401, 'authentication_error', 'Invalid credential', {
    code: 'invalid_credential',
  }),
  revoked: new GatewayError(401, 'authentication_error', 'This token has been revoked', {
    code: 'token_revoked',
  }),
  expired: new GatewayError(401, 'authentication_error', 'This token has expired', { code: 'token_expired' }),
  ip_not_allowed: new GatewayError(403, 'permission_error', 'This token may not be used from your address', {
    code: 'ip_not_allowed',
  }),
};
