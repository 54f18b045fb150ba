import type { IncomingHttpHeaders } from 'node:http';

/**
 * Statuses worth another attempt: the provider was busy or a hop in front of it failed. 529 is
 * Anthropic's "overloaded".
 */
const RETRYABLE_STATUS = new Set([429, 502, 503, 504, 529]);

export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUS.has(status);
}

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Exponential backoff with full jitter (a uniformly random wait below the exponential cap). */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const cap = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * cap);
}

/**
 * Milliseconds a `Retry-After` header asks for (delta-seconds or an HTTP date), or undefined when
 * absent or unparseable.
 */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (!raw) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A count of milliseconds, as Azure's `retry-after-ms` headers give it; undefined when absent or not one. */
function parseMilliseconds(value: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  return raw !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(raw) ? Math.ceil(Number(raw)) : undefined;
}

/**
 * Milliseconds an answer asks the gateway to wait before asking again. Azure OpenAI sends
 * `retry-after-ms` (or `x-ms-retry-after-ms`), sometimes without `Retry-After` and always more
 * precisely (its `Retry-After` is whole seconds), so they come first.
 */
export function retryAfterMs(headers: IncomingHttpHeaders, now: number = Date.now()): number | undefined {
  return (
    parseMilliseconds(headers['retry-after-ms']) ??
    parseMilliseconds(headers['x-ms-retry-after-ms']) ??
    parseRetryAfter(headers['retry-after'], now)
  );
}
