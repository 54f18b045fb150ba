/** Statuses worth another attempt: rate limited, or the gateway or provider briefly unavailable. */
export const RETRYABLE = [429, 502, 503, 504];

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
