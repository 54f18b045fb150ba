/** Why an upstream exchange failed without a usable HTTP response. */
export type UpstreamFailure = 'connect' | 'timeout' | 'aborted';

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  /** Whether another attempt may succeed without the request having been processed twice. */
  readonly retryable: boolean;

  constructor(
    failure: UpstreamFailure,
    message: string,
    options: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
    this.failure = failure;
    this.retryable = options.retryable ?? false;
  }
}

/** Errors raised before a request reached the provider, or while it was being refused. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** Classifies an undici error; the message is ours, never the library's (it may hold a URL). */
export function classifyUpstreamError(
  error: unknown,
  signal: { aborted: boolean; reason: unknown },
): UpstreamError {
  if (error instanceof UpstreamError) return error;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    return reason instanceof UpstreamError
      ? reason
      : new UpstreamError('aborted', 'request aborted', { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return new UpstreamError('timeout', 'upstream connect timed out', { retryable: true, cause: error });
    case 'UND_ERR_HEADERS_TIMEOUT':
      return new UpstreamError('timeout', 'upstream sent no response in time', { cause: error });
    case 'UND_ERR_BODY_TIMEOUT':
      return new UpstreamError('timeout', 'upstream went silent mid-response', { cause: error });
    case 'UND_ERR_ABORTED':
      return new UpstreamError('aborted', 'request aborted', { cause: error });
  }
  const known = typeof code === 'string' && CONNECTION_CODES.has(code);
  return new UpstreamError('connect', `upstream connection failed (${known ? code : 'error'})`, {
    retryable: known,
    cause: error,
  });
}
