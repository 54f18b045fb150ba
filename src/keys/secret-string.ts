import { createHash } from 'node:crypto';
import { inspect } from 'node:util';

/**
 * Holds one secret value so that the only way to read it is an explicit `reveal()`: printing,
 * logging, JSON-encoding or inspecting it yields a fingerprint such as `…a1b2 [#3f9c0d12]`.
 */
export class SecretString {
  readonly #value: string;
  /** A short, stable identifier safe for logs: the last four characters and 32 bits of SHA-256. */
  readonly fingerprint: string;

  constructor(value: string) {
    this.#value = value;
    const digest = createHash('sha256').update(value).digest('hex').slice(0, 8);
    this.fingerprint = `…${value.slice(-4)} [#${digest}]`;
  }

  reveal(): string {
    return this.#value;
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
