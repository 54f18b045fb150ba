/**
 * The one error type the gateway raises on purpose. Anything else that reaches the error handler
 * is an internal fault and is reported without detail.
 */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'request_too_large'
  | 'upstream_error'
  | 'timeout_error'
  | 'server_error'
  | 'service_unavailable';

/**
 * The counts of a context-length refusal, so that each surface can word it as its own API does
 * (Claude Code compacts on Anthropic's words, whatever provider refused).
 */
export interface ContextOverflow {
  limit: number;
  /** The input's tokens, when the refusal counted them. */
  input?: number;
  /** The output asked for, when the refusal counted input and output together. */
  output?: number;
}

export interface GatewayErrorOptions {
  /** The request field the error is about, as a dotted path such as `messages[0].content`. */
  param?: string | null;
  /** A stable machine-readable code, such as `unknown_field`. */
  code?: string | null;
  /** Headers the client should see with the error (for example `retry-after`). */
  headers?: Record<string, string>;
  overflow?: ContextOverflow;
}

export class GatewayError extends Error {
  readonly status: number;
  readonly type: ErrorType;
  readonly param: string | null;
  readonly code: string | null;
  readonly headers: Record<string, string>;
  readonly overflow: ContextOverflow | undefined;

  constructor(status: number, type: ErrorType, message: string, options: GatewayErrorOptions = {}) {
    super(message);
    this.name = 'GatewayError';
    this.status = status;
    this.type = type;
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
    this.overflow = options.overflow;
  }
}

export const badRequest = (message: string, options?: GatewayErrorOptions): GatewayError =>
  new GatewayError(400, 'invalid_request_error', message, options);

/**
 * Thrown at a request whose client left before it went upstream: nobody reads it, the request log
 * says 499, and no provider is asked.
 */
export const clientClosed = new GatewayError(
  499,
  'invalid_request_error',
  'The client closed the connection before its request was sent',
  { code: 'client_closed' },
);

/** The answer to a route that needs a body and received none (an absent body parses as `undefined`). */
export const emptyBody = (): GatewayError =>
  badRequest('Request body is empty; send a JSON object', { code: 'empty_body' });
