import { MIN_SECRET_LENGTH } from '../../observability/index.js';
import { KeySourceError } from './errors.js';
import { ENC_PREFIX } from './inline.js';
import { checkKeyLength } from './key-length.js';

/**
 * Splits a secret value that may hold several comma-separated keys, dropping blanks and
 * duplicates. `where` names the location for error messages (never the value). Only an
 * environment variable opens `enc:` values (`opensSealed`); a secret manager or the keyring holds
 * the key itself, and a sealed value there would be sent to the provider as it is.
 */
export function splitKeyList(raw: string, where: string, opensSealed = false): string[] {
  const values = raw
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
  if (values.length === 0) throw new KeySourceError(`${where} holds no key`);
  values.forEach((value, i) => {
    if (value.startsWith(ENC_PREFIX) && !opensSealed) {
      throw new KeySourceError(
        `key #${i + 1} in ${where} is sealed (enc:…), which only keys.env and keys.values open; store the provider's key itself there`,
      );
    }
    // A sealed value is longer than the key it holds: that is checked once it is opened.
    if (!value.startsWith(ENC_PREFIX)) checkKeyLength(value, `key #${i + 1} in ${where}`);
    if (value.length < MIN_SECRET_LENGTH) {
      throw new KeySourceError(
        `key #${i + 1} in ${where} is shorter than ${MIN_SECRET_LENGTH} characters; it cannot be a real key`,
      );
    }
    // Sent in an HTTP header, which takes nothing else (a typographic hyphen from a copy).
    if (!/^[\x21-\x7e]+$/.test(value)) {
      throw new KeySourceError(
        `key #${i + 1} in ${where} has a character that is not printable ASCII; copy the key again from the provider`,
      );
    }
  });
  return [...new Set(values)];
}
