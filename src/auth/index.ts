export { assertNoQueryCredential, extractCredential } from './credentials.js';
export { hashClientKey, type Principal, StaticKeyVerifier } from './static-keys.js';
