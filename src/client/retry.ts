import type { KeywardError } from './errors.js';

/**
 * Statuses worth another attempt for an idempotent request (GET, HEAD): rate limited, or the
 * gateway or provider briefly unavailable.
 */
export const RETRYABLE = [429, 502, 503, 504];

/**
 * The 503s the gateway answers before it has run anything, by error `code`: its rate limiter could
 * not be asked (admission runs before any provider call), or the connection was refused before
 * the request was read. Other 503s may follow a provider call (`provider_overloaded` is the
 * provider's own answer; `provider_unavailable` can come from a fallback after an earlier target
 * was tried; `store_busy` can come from a write after the model answered), so they are not retried
 * for a request that is not idempotent.
 */
export const REFUSED_BEFORE_RUNNING = ['rate_limiter_unavailable', 'too_many_connections'];

/** Connection failures (Node's and undici's codes) raised before a byte of the request was sent. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether a fetch failure happened before the request was sent: a connection that was never made.
 * Node's fetch names it in `cause.code` (an AggregateError, when several addresses were tried, in
 * `cause.errors[].code`); a browser's fetch says nothing, so there it is never known.
 */
export function notSent(error: unknown): boolean {
  const codes: unknown[] = [];
  let at = error as { code?: unknown; cause?: unknown; errors?: unknown } | undefined;
  for (let depth = 0; at && depth < 4; depth++) {
    codes.push(at.code);
    if (Array.isArray(at.errors)) for (const inner of at.errors) codes.push(inner?.code);
    at = at.cause as typeof at;
  }
  const known = codes.filter((code): code is string => typeof code === 'string');
  return known.length > 0 && known.every((code) => NOT_SENT.has(code));
}

/**
 * Whether a failed attempt may be sent again.
 *
 * - GET and HEAD: on 429, 502, 503, 504, a network failure or a timeout.
 * - Any other method (POST, DELETE) may have been run by the gateway (a model call billed, a
 *   conversation item written) even when its answer never came: it is sent again only when the
 *   gateway guarantees that nothing ran: a 429, a 503 whose code is an admission refusal
 *   ({@link REFUSED_BEFORE_RUNNING}), or a connection that failed before the request was sent
 *   (`notSent`). Never on 502, 504, another 503, a timeout or a network failure after sending,
 *   and never when the answer says an attempt reached a provider unanswered (a 429 from a
 *   fallback after a first target timed out, say). A DELETE counts as not idempotent: a repeat
 *   of one that was run answers 404.
 * - `/auth/*` (a one-time login code, a rotating refresh token) is never sent again, and neither is
 *   a `template_output_invalid` (it follows a completed, billed model call).
 */
export function mayRetry(
  method: string,
  path: string,
  failure: KeywardError,
  unsent: boolean,
  /** The answer says an attempt reached a provider unanswered (`x-keyward-unanswered-attempts`). */
  providerMayHaveRun = false,
): boolean {
  if (failure.type === 'aborted' || path.startsWith('/auth/')) return false;
  if (failure.code === 'template_output_invalid') return false;
  const idempotent = method === 'GET' || method === 'HEAD';
  if (providerMayHaveRun && !idempotent) return false;
  if (failure.status === 0) {
    if (failure.type === 'timeout') return idempotent;
    return failure.type === 'network_error' && (idempotent || unsent);
  }
  if (idempotent) return RETRYABLE.includes(failure.status);
  if (failure.status === 429) return true;
  return failure.status === 503 && REFUSED_BEFORE_RUNNING.includes(failure.code ?? '');
}

/** `Retry-After` as seconds: a number of seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, (at - now) / 1000);
}

/**
 * How long to wait before retry number `attempt` (0 for the first retry): what `Retry-After` said,
 * else exponential backoff with full jitter, a uniform pick in [0, min(cap, base × 2^attempt)).
 */
export function backoffMs(
  attempt: number,
  retryAfter: number | null,
  random: () => number,
  baseMs: number,
  capMs: number,
): number {
  if (retryAfter !== null) return retryAfter * 1000;
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}
