/**
 * Every failure the client reports: an HTTP error answer (with the gateway's `type`, `code` and
 * request id), an error event inside a stream, a network failure (`status` 0, type
 * `network_error`), a timeout (`timeout`), a cancellation (`aborted`), or an answer the client
 * cannot read (type `invalid_response`, with the answer's HTTP status and a `code`: `invalid_json`
 * for a body that is not JSON, a proxy's HTML page say; `invalid_event` for a stream event that is
 * not a JSON object; `event_too_large` for a stream event beyond the reader's bound).
 */
export class KeywardError extends Error {
  override name = 'KeywardError';
  constructor(
    message: string,
    readonly status: number,
    readonly type: string,
    readonly code: string | null = null,
    readonly requestId: string | null = null,
    /** Seconds to wait before trying again, when the gateway said so. */
    readonly retryAfter: number | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

interface ErrorEnvelope {
  error?: { message?: unknown; type?: unknown; code?: unknown; param?: unknown };
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The gateway's error envelope (`{"error": {message, type, code, param}}`) as a KeywardError. */
export function errorFrom(
  body: unknown,
  status: number,
  requestId: string | null,
  retryAfter: number | null,
): KeywardError {
  const error = (body as ErrorEnvelope | null)?.error;
  return new KeywardError(
    text(error?.message) ?? `HTTP ${status}`,
    status,
    text(error?.type) ?? 'api_error',
    text(error?.code),
    requestId,
    retryAfter,
    text(error?.param),
  );
}
