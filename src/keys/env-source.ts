import { MIN_SECRET_LENGTH } from '../observability/index.js';
import { SecretString } from './secret-string.js';

/** Thrown for a key source that cannot produce usable keys; the message never holds a value. */
export class KeySourceError extends Error {
  override name = 'KeySourceError';
}

/** Splits a comma-separated environment variable into keys. */
export function keysFromEnv(variable: string, env: NodeJS.ProcessEnv): SecretString[] {
  const raw = env[variable]?.trim();
  if (!raw) throw new KeySourceError(`environment variable ${variable} is empty or not set`);
  const values = raw
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
  values.forEach((value, i) => {
    if (value.length < MIN_SECRET_LENGTH) {
      throw new KeySourceError(
        `key #${i + 1} in ${variable} is shorter than ${MIN_SECRET_LENGTH} characters; it cannot be a real key`,
      );
    }
  });
  return [...new Set(values)].map((value) => new SecretString(value));
}
