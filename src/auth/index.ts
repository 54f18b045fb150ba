export { assertNoQueryCredential, extractCredential } from './credentials.js';
export { hashClientKey, MIN_CLIENT_KEY_LENGTH, type Principal, StaticKeyVerifier } from './static-keys.js';
