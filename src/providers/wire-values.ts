import { randomUUID } from 'node:crypto';

/** Readers for provider JSON, whose shape is never trusted; shared by every codec. */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export const nonEmptyString = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/** A token count, or 0 where the provider sent none or nonsense. */
export const count = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : 0;

/** An id for a tool call the provider gave none: the canonical form needs one to match results. */
export const generatedCallId = (): string => `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`;
