export { assertNoQueryCredential, extractCredential } from './credentials.js';
export { IpAllowlist, parseCidr } from './ip-allowlist.js';
export { hashClientKey } from './key-digest.js';
export { isPlainText, plainText } from './plain-text.js';
export {
  MIN_CLIENT_KEY_LENGTH,
  type Principal,
  StaticKeyVerifier,
  type StaticPrincipal,
} from './static-keys.js';
export { formatToken, parseToken, TOKEN_PREFIX } from './token-format.js';
export { DEFAULT_SCOPES, SCOPES, type TokenSpec, tokenSpecSchema, WiderTokenError } from './token-spec.js';
export { type TokenCheck, type TokenFailure, type TokenPrincipal, TokenService } from './tokens.js';
