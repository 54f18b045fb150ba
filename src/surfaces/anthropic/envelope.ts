import type { ContextOverflow, GatewayError } from '../../errors/gateway-error.js';

/** The error types Anthropic's API answers with, as its SDK names them (plus `request_too_large`). */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'billing_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'timeout_error'
  | 'api_error'
  | 'overloaded_error';

/**
 * Anthropic's error envelope, the shape its SDKs parse into `APIError`. The API adds a
 * `request_id`; the gateway's errors do not carry one, so it is left out (the SDK reads the
 * `request-id` header first anyway).
 */
export interface AnthropicErrorBody {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
}

/** Statuses whose type Anthropic documents; others fall back by class (4xx, 5xx). */
const TYPES: Readonly<Record<number, AnthropicErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

function errorType(status: number): AnthropicErrorType {
  return TYPES[status] ?? (status >= 400 && status < 500 ? 'invalid_request_error' : 'api_error');
}

export function anthropicErrorBody(error: GatewayError): AnthropicErrorBody {
  return {
    type: 'error',
    error: {
      type: errorType(error.status),
      message:
        error.overflow?.input === undefined ? withField(error) : anthropicOverflowWords(error.overflow),
    },
  };
}

/**
 * Anthropic's envelope has no `param`: a refusal to carry a field to the routed provider names it
 * in front of its message, as Anthropic writes its own (`messages.2.content.1: …`), unless the
 * message quotes it already. Validation messages name their field themselves, and a provider's
 * own `param` names the provider's field, not the client's: both are left as they are.
 */
function withField({ message, param, code }: GatewayError): string {
  if (code !== 'unsupported_for_provider' || !param || message.includes(`'${param}'`)) return message;
  return `${anthropicField(param)}: ${message}`;
}

/** A client field as Anthropic names one in front of its messages (`messages.2.content.1`). */
export const anthropicField = (param: string): string => param.replace(/\[(\d+)\]/g, '.$1');

/**
 * A context-length refusal in Anthropic's own words, whichever provider refused: Claude Code
 * compacts the conversation on "prompt is too long", and lowers `max_tokens` to what the numbers
 * of the other message leave.
 */
export function anthropicOverflowWords({ input, output, limit }: ContextOverflow): string {
  return output === undefined
    ? `prompt is too long: ${input} tokens > ${limit} maximum`
    : `input length and \`max_tokens\` exceed context limit: ${input} + ${output} > ${limit}, decrease input length or \`max_tokens\` and try again`;
}

/**
 * The types an Anthropic provider's in-stream error keeps on its way to the client: what they say
 * (retry later, too much, not found, the request itself) holds for the client too. The others
 * (`authentication_error`, `permission_error`, `billing_error`) are about the gateway's own key and
 * account, which the client's SDK would take for its own: they stay the gateway's `api_error`.
 */
const RELAYED_TYPES: ReadonlySet<unknown> = new Set<AnthropicErrorType>([
  'invalid_request_error',
  'not_found_error',
  'request_too_large',
  'rate_limit_error',
  'timeout_error',
  'api_error',
  'overloaded_error',
]);

/**
 * The same envelope as one SSE event, for failures after a stream has started. `upstreamType` is
 * the type an Anthropic provider's own error event named, which SDKs and Claude Code decide their
 * retries by (`overloaded_error` is retried, `api_error` is not): it is kept when it is one of
 * RELAYED_TYPES. The message stays the gateway's.
 */
export function anthropicErrorEvent(error: GatewayError, upstreamType?: unknown): string {
  const body = anthropicErrorBody(error);
  if (RELAYED_TYPES.has(upstreamType)) body.error.type = upstreamType as AnthropicErrorType;
  return `event: error\ndata: ${JSON.stringify(body)}\n\n`;
}
