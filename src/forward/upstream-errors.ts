import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors/gateway-error.js';
import { parseRetryAfter, type UpstreamError } from '../upstream/index.js';

/** Provider error codes and params are passed on only when they look like identifiers. */
const SAFE_TOKEN = /^[A-Za-z0-9_.[\]-]{1,64}$/;

function safeFields(body: string): { code?: string; param?: string } {
  try {
    const error = (JSON.parse(body) as { error?: { code?: unknown; param?: unknown } }).error;
    const code = typeof error?.code === 'string' && SAFE_TOKEN.test(error.code) ? error.code : undefined;
    const param = typeof error?.param === 'string' && SAFE_TOKEN.test(error.param) ? error.param : undefined;
    return { ...(code && { code }), ...(param && { param }) };
  } catch {
    return {};
  }
}

/**
 * Maps a provider's non-2xx answer to what the client sees. The provider's message is never passed
 * on (provider errors quote keys, account names and internal hosts); its structured `code` and
 * `param` are, when they are plain identifiers, so the client can still tell what to fix.
 */
export function mapUpstreamStatus(status: number, headers: IncomingHttpHeaders, body: string): GatewayError {
  if (status === 401 || status === 403) {
    return new GatewayError(
      502,
      'upstream_error',
      "The provider rejected the gateway's credential; this is not a problem with your credential",
      {
        code: 'provider_auth_failed',
      },
    );
  }
  if (status === 402) {
    // Payment required: the account behind the key is out of credit, which no change to the
    // request fixes (it was a 400 invalid_request_error, blaming the client).
    return new GatewayError(
      503,
      'service_unavailable',
      "The provider refused the request for its account's billing (HTTP 402): out of credit or a payment problem",
      { code: 'provider_payment_required' },
    );
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    const seconds = Math.max(1, Math.ceil((retryAfterMs ?? 1000) / 1000));
    return new GatewayError(429, 'rate_limit_error', 'The provider is rate limiting requests; retry later', {
      code: 'provider_rate_limited',
      headers: { 'retry-after': String(seconds) },
    });
  }
  if (status === 408 || status === 504) {
    return new GatewayError(504, 'timeout_error', 'The provider did not answer in time', {
      code: 'provider_timeout',
    });
  }
  if (status === 503 || status === 529) {
    // Anthropic's "overloaded" (529) and everyone's 503: the client's SDK backs off and retries.
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    return new GatewayError(
      503,
      'service_unavailable',
      `The provider is overloaded (HTTP ${status}); retry later`,
      {
        code: 'provider_overloaded',
        ...(retryAfterMs !== undefined && {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
        }),
      },
    );
  }
  if (status >= 500) {
    return new GatewayError(
      502,
      'upstream_error',
      `The provider failed to handle the request (HTTP ${status})`,
      {
        code: 'provider_error',
      },
    );
  }
  const { code, param } = safeFields(body);
  const clientStatus = status === 404 || status === 413 || status === 422 ? status : 400;
  return new GatewayError(
    clientStatus,
    clientStatus === 404 ? 'not_found_error' : 'invalid_request_error',
    `The provider rejected the request (HTTP ${status})${code ? `: ${code}` : ''}${param ? ` (param '${param}')` : ''}`,
    { code: code ?? 'provider_rejected_request', param: param ?? null },
  );
}

export function mapUpstreamFailure(error: UpstreamError): GatewayError {
  if (error.failure === 'timeout') {
    return new GatewayError(504, 'timeout_error', 'The provider did not answer in time', {
      code: 'provider_timeout',
    });
  }
  return new GatewayError(502, 'upstream_error', 'The provider could not be reached', {
    code: 'provider_unreachable',
  });
}

/** 2xx and anything else that is not one of the statuses above is a success from the client's side. */
export const isSuccess = (status: number): boolean => status >= 200 && status < 300;
