import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * A process-lifetime key that seals every secret held in memory. As a KeyObject its bytes live
 * outside the JavaScript heap, so a heap snapshot, a core dump of the heap or an object that is
 * accidentally serialised shows ciphertext, never a provider key.
 */
const MEMORY_KEY = createSecretKey(randomBytes(32));
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** `sk-`, `AIza`: the scheme prefix a key starts with, at most four characters, or nothing. */
function schemePrefix(value: string): string {
  const match = /^(?:[A-Za-z]{1,3}-|AIza)/.exec(value);
  return match && value.length >= 16 ? match[0] : '';
}

/** A short, stable, log-safe identifier: scheme prefix, last four characters, 32 bits of SHA-256. */
export function fingerprintOf(value: string): string {
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const tail = value.length >= 16 ? value.slice(-4) : '';
  return `${schemePrefix(value)}…${tail} [#${digest}]`;
}

/**
 * Holds one secret value sealed (AES-256-GCM under the process memory key) so that the only way to
 * read it is an explicit `reveal()`, which decrypts at the moment of use. Printing, logging,
 * JSON-encoding or inspecting it yields the fingerprint, such as `sk-…a1b2 [#3f9c0d12]`.
 */
export class SecretString {
  readonly #sealed: Buffer;
  readonly fingerprint: string;

  constructor(value: string) {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', MEMORY_KEY, nonce);
    this.#sealed = Buffer.concat([nonce, cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    this.fingerprint = fingerprintOf(value);
  }

  reveal(): string {
    const sealed = this.#sealed;
    const decipher = createDecipheriv('aes-256-gcm', MEMORY_KEY, sealed.subarray(0, NONCE_BYTES));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return (
      decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES), undefined, 'utf8') +
      decipher.final('utf8')
    );
  }

  toString(): string {
    return this.fingerprint;
  }

  toJSON(): string {
    return this.fingerprint;
  }

  [inspect.custom](): string {
    return `SecretString(${this.fingerprint})`;
  }
}
