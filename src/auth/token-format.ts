import { createHmac, randomBytes } from 'node:crypto';

/**
 * Gateway tokens: `kw_<id>_<secret>`. The id (60 random bits, lowercase base32) names the record
 * and is not secret; the secret is 256 random bits in base64url. The store keeps only
 * HMAC-SHA256(pepper, secret), the pepper sealed under the master key, so a copy of the database
 * alone cannot even test guesses.
 */
export const TOKEN_PREFIX = 'kw_';
const ID_PATTERN = /^[a-z2-7]{12}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export interface ParsedToken {
  id: string;
  secret: string;
}

export function newTokenId(): string {
  const bytes = randomBytes(12);
  let id = '';
  for (let i = 0; i < 12; i++) id += BASE32[bytes[i]! & 31];
  return id;
}

export function newTokenSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function formatToken(id: string, secret: string): string {
  return `${TOKEN_PREFIX}${id}_${secret}`;
}

/** Splits a presented credential; undefined when it is not shaped like a gateway token. */
export function parseToken(credential: string): ParsedToken | undefined {
  if (!credential.startsWith(TOKEN_PREFIX)) return undefined;
  const id = credential.slice(3, 15);
  const secret = credential.slice(16);
  if (credential[15] !== '_' || !ID_PATTERN.test(id) || !SECRET_PATTERN.test(secret)) return undefined;
  return { id, secret };
}

export function hashTokenSecret(pepper: Buffer, secret: string): Buffer {
  return createHmac('sha256', pepper).update(secret).digest();
}
