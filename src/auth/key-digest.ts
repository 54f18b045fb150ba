import { createHash } from 'node:crypto';

/** A client key's SHA-256: what a static key is kept and compared as. */
export const keyDigest = (key: string): Buffer => createHash('sha256').update(key).digest();

/** `sha256:<hex>` as accepted by `auth.apiKeys.hashes`. */
export function hashClientKey(key: string): string {
  return `sha256:${keyDigest(key).toString('hex')}`;
}
