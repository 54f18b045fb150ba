import { z } from 'zod';

/**
 * Control characters (NUL among them) and UTF-16 halves without their pair. A user id goes into
 * the usage and audit rows every request writes, many users' in one batch: Postgres stores no NUL
 * in text and the driver turns a lone half into U+FFFD, so one such id failed every batch it
 * joined (a usage batch is kept and retried, so every later one too) or named another user.
 * Filters are held to it too: looked up, Postgres refused the NUL with a 500 where SQLite found nothing.
 */
const UNSTORABLE = /[\p{Cc}\p{Cs}]/u;

export const isPlainText = (text: string): boolean => !UNSTORABLE.test(text);

/**
 * A name, id or filter a client gives the store: `min` (1 unless said) to `max` characters, none
 * of them unstorable. Every client string that reaches the store goes through it.
 */
export const plainText = (max: number, min = 1) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine(isPlainText, 'must not contain control characters (NUL, line breaks, …) or unpaired surrogates');

const UNPAIRED = /\p{Cs}/u;

/**
 * Free-form text a client labels something with (a metadata value): tabs and line breaks are
 * legitimate there and kept as given; only what a store cannot keep is refused.
 */
export const freeText = (max: number, min = 0) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine(
      // NUL and UTF-16 halves without their pair: what neither store keeps as given (see above).
      (text) => !text.includes('\u0000') && !UNPAIRED.test(text),
      'must not contain NUL characters or unpaired surrogates',
    );
