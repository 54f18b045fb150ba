import { z } from 'zod';

/**
 * Control characters (NUL among them) and UTF-16 halves without their pair. A user id goes into
 * the usage and audit rows every request writes, many users' in one batch: Postgres stores no NUL
 * in text and the driver turns a lone half into U+FFFD, so one such id failed every batch it
 * joined (a usage batch is kept and retried, so every later one too) or named another user.
 */
const UNSTORABLE = /[\p{Cc}\p{Cs}]/u;

export const isPlainText = (text: string): boolean => !UNSTORABLE.test(text);

/** A name or id a credential carries: 1 to `max` characters, none of them unstorable. */
export const plainText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(isPlainText, 'must not contain control characters (NUL, line breaks, …) or unpaired surrogates');
