import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Secrets of browser sessions: login codes, session-cookie secrets and refresh tokens. Each is
 * 256 random bits; the store keeps HMAC-SHA256(pepper, purpose + secret) only, the purpose
 * keeping a hash of one kind from ever standing for another.
 */
export type SecretPurpose = 'code' | 'session' | 'refresh';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const SESSION_ID = /^[a-z2-7]{26}$/;
const SECRET = /^[A-Za-z0-9_-]{43}$/;
/** Compared against when there is no record, so a miss costs what a wrong secret does. */
const DUMMY = Buffer.alloc(32);

/** 130 random bits: a new id at every login. */
export function newSessionId(): string {
  const bytes = randomBytes(26);
  let id = '';
  for (let i = 0; i < 26; i++) id += BASE32[bytes[i]! & 31];
  return id;
}

export const newSecret = (): string => randomBytes(32).toString('base64url');

/**
 * The secrets of the generation that replaces a refresh token, derived under the pepper from that
 * token's secret and the address it is presented from (an IPv6 client by its /64): a replay within
 * the grace from the same address (a second tab) is handed the very cookies the first rotation
 * set, so the browser's jar ends on the live generation whichever answer lands last. A copy
 * presented from elsewhere derives other secrets and branches off, so the two holders diverge and
 * the next replay after the grace ends the login as reuse.
 */
export function successorSecrets(
  pepper: Buffer,
  refreshSecret: string,
  address: string,
): { refresh: string; access: string } {
  const derive = (purpose: string) =>
    createHmac('sha256', pepper).update(`${purpose}:${address}:${refreshSecret}`).digest('base64url');
  return { refresh: derive('next-refresh'), access: derive('next-session') };
}

export function hashSecret(pepper: Buffer, purpose: SecretPurpose, secret: string): Buffer {
  return createHmac('sha256', pepper).update(`${purpose}:${secret}`).digest();
}

/** Whether `digest` equals the stored hex hash, in constant time; a missing hash never matches. */
export function sameHash(digest: Buffer, storedHex: string | undefined): boolean {
  if (storedHex === undefined) {
    timingSafeEqual(digest, DUMMY);
    return false;
  }
  const stored = Buffer.from(storedHex, 'hex');
  return stored.length === digest.length && timingSafeEqual(digest, stored);
}

export const isSessionId = (text: string): boolean => SESSION_ID.test(text);
export const isSecret = (text: string): boolean => SECRET.test(text);

/** Login codes: `kwc_<secret>`, so a code pasted where a token goes is told apart. */
export const CODE_PREFIX = 'kwc_';
export const formatCode = (secret: string): string => `${CODE_PREFIX}${secret}`;
export function parseCode(code: string): string | undefined {
  const secret = code.slice(CODE_PREFIX.length);
  return code.startsWith(CODE_PREFIX) && isSecret(secret) ? secret : undefined;
}

/** The session cookie: `<session id>.<secret>`. */
export const formatSessionCookie = (id: string, secret: string): string => `${id}.${secret}`;
export function parseSessionCookie(value: string): { id: string; secret: string } | undefined {
  const id = value.slice(0, 26);
  const secret = value.slice(27);
  return value[26] === '.' && isSessionId(id) && isSecret(secret) ? { id, secret } : undefined;
}

/** The refresh cookie: `<session id>.<generation>.<secret>`. */
export const formatRefreshCookie = (id: string, generation: number, secret: string): string =>
  `${id}.${generation}.${secret}`;
export function parseRefreshCookie(
  value: string,
): { id: string; generation: number; secret: string } | undefined {
  const match = /^([a-z2-7]{26})\.(\d{1,9})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return undefined;
  return { id: match[1]!, generation: Number(match[2]), secret: match[3]! };
}
