import { timingSafeEqual } from 'node:crypto';
import type { SecretString } from '../keys/index.js';
import { keyDigest } from './key-digest.js';
import type { TokenPrincipal } from './tokens.js';

export interface StaticPrincipal {
  kind: 'static-key';
  /** Safe to log: identifies which configured key was used without revealing it. */
  fingerprint: string;
}

/** Who a request speaks for: a static client key, or a gateway token with its constraints. */
export type Principal = StaticPrincipal | TokenPrincipal;

interface StoredKey {
  digest: Buffer;
  /** One object per key, so that what is cached per principal is found again. */
  principal: StaticPrincipal;
}

/** Shorter client keys could be guessed; they are refused at start. */
export const MIN_CLIENT_KEY_LENGTH = 16;

/**
 * Static client keys. Only SHA-256 digests are kept, and every digest is compared with
 * `timingSafeEqual` without an early exit, so neither the match position nor a partial match
 * shows in the timing.
 */
export class StaticKeyVerifier {
  private readonly keys: StoredKey[] = [];

  constructor(plainKeys: readonly SecretString[], hexDigests: readonly string[]) {
    for (const key of plainKeys)
      this.keys.push({
        digest: keyDigest(key.reveal()),
        principal: { kind: 'static-key', fingerprint: key.fingerprint },
      });
    for (const hex of hexDigests) {
      this.keys.push({
        digest: Buffer.from(hex, 'hex'),
        principal: { kind: 'static-key', fingerprint: `[#${hex.slice(0, 8)}]` },
      });
    }
  }

  get size(): number {
    return this.keys.length;
  }

  /** Whether a key with this fingerprint is still configured. */
  holds(fingerprint: string): boolean {
    return this.keys.some((key) => key.principal.fingerprint === fingerprint);
  }

  verify(credential: string): StaticPrincipal | undefined {
    const digest = keyDigest(credential);
    let match: StoredKey | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(digest, key.digest)) match = key;
    }
    return match?.principal;
  }
}
