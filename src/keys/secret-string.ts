import { createHash, randomFillSync } from 'node:crypto';
import { inspect } from 'node:util';

const isLetter = (code: number) => (code >= 65 && code <= 90) || (code >= 97 && code <= 122);

/**
 * `sk-`, `AIza`: the scheme prefix a key starts with, at most four characters, or nothing. No
 * regular expression: V8 keeps the last string a RegExp ran on reachable (`RegExp.input`).
 */
function schemePrefix(value: string): string {
  if (value.length < 16) return '';
  if (value.startsWith('AIza')) return 'AIza';
  if (!isLetter(value.charCodeAt(0))) return '';
  for (let i = 1; i <= 3; i++) {
    if (value[i] === '-') return value.slice(0, i + 1);
    if (!isLetter(value.charCodeAt(i))) return '';
  }
  return '';
}

/** A short, stable, log-safe identifier: scheme prefix, last four characters, 32 bits of SHA-256. */
export function fingerprintOf(value: string): string {
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const tail = value.length >= 16 ? value.slice(-4) : '';
  return `${schemePrefix(value)}…${tail} [#${digest}]`;
}

/**
 * Holds one secret value masked so that the only way to read it is an explicit `reveal()`, which
 * unmasks it at the moment of use. Printing, logging, JSON-encoding or inspecting it yields the
 * fingerprint, such as `sk-…a1b2 [#3f9c0d12]`.
 *
 * The value is kept XORed with a random pad of its own length, and both live in Buffers, whose
 * bytes are outside the JavaScript heap: a heap snapshot, or an object serialised by mistake, shows
 * neither. This protects against what a cipher under a per-process key would (both the pad and
 * such a key sit in the same process's memory) at a fraction of the cost: reveal() runs once per
 * upstream attempt, and an OpenSSL cipher context cost ~10 µs of CPU per request under load.
 */
export class SecretString {
  readonly #masked: Buffer;
  readonly #pad: Buffer;
  readonly fingerprint: string;

  constructor(value: string) {
    const bytes = Buffer.from(value, 'utf8');
    this.#pad = randomFillSync(Buffer.allocUnsafeSlow(bytes.length));
    this.#masked = Buffer.allocUnsafeSlow(bytes.length);
    for (let i = 0; i < bytes.length; i++) this.#masked[i] = bytes[i]! ^ this.#pad[i]!;
    bytes.fill(0);
    this.fingerprint = fingerprintOf(value);
  }

  reveal(): string {
    const masked = this.#masked;
    const pad = this.#pad;
    const bytes = Buffer.allocUnsafe(masked.length);
    for (let i = 0; i < masked.length; i++) bytes[i] = masked[i]! ^ pad[i]!;
    const value = bytes.toString('utf8');
    bytes.fill(0);
    return value;
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
