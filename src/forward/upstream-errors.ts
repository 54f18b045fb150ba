import type { IncomingHttpHeaders } from 'node:http';
import { type ContextOverflow, GatewayError } from '../errors/gateway-error.js';
import { providerFailedMidStream, streamInterrupted } from '../errors/stream.js';
import { StreamFailure } from '../providers/index.js';
import { anthropicOverflowWords } from '../surfaces/anthropic/envelope.js';
import { retryAfterMs as retryAfterOf, type UpstreamError } from '../upstream/index.js';

/** Provider error codes and params are passed on only when they look like identifiers. */
const SAFE_TOKEN = /^[A-Za-z0-9_.[\]-]{1,64}$/;

/** The `error` object of a provider's error body (Anthropic's, OpenAI's and Gemini's all have one). */
type ErrorObject = { code?: unknown; param?: unknown; message?: unknown } | undefined;

function errorObject(body: string): ErrorObject {
  try {
    const error = (JSON.parse(body) as { error?: unknown } | null)?.error;
    return typeof error === 'object' && error !== null ? error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A run of letters and digits this long is no word of a code or a param (`context_length_exceeded`,
 * `messages[0].content`) but may be a key a provider or a proxy echoed: a 32-digit hex key, an
 * `sk-…`, `AIza…` or `kw_…` one. Such a value is not passed on.
 */
const KEY_LIKE_RUN = /[A-Za-z0-9]{24}/;

const safe = (value: unknown): value is string =>
  typeof value === 'string' && SAFE_TOKEN.test(value) && !KEY_LIKE_RUN.test(value);

function safeFields(error: ErrorObject): { code?: string; param?: string } {
  const code = safe(error?.code) ? error.code : undefined;
  const param = safe(error?.param) ? error.param : undefined;
  return { ...(code && { code }), ...(param && { param }) };
}

/** A count in a provider's context-length message: digits only, and few of them. */
const COUNT = '(\\d{1,9})';

/** The numbers of a context-length message as counts. */
type Numbers = ReadonlyArray<string | undefined>;
const inputOverLimit = ([input, limit]: Numbers): ContextOverflow => ({
  input: Number(input),
  limit: Number(limit),
});
const inputAndOutputOverLimit = ([input, output, limit]: Numbers): ContextOverflow => ({
  input: Number(input),
  output: Number(output),
  limit: Number(limit),
});

/**
 * The context-length messages clients act on (Claude Code compacts the conversation on Anthropic's
 * two, or lowers `max_tokens` to what is left), each matched whole and written again from its
 * numbers in the provider's own words, so that a client matching the words still can and nothing
 * but the numbers comes from the provider.
 */
const CONTEXT_OVERFLOWS: ReadonlyArray<{
  pattern: RegExp;
  render(numbers: ReadonlyArray<string | undefined>): string;
  counts?(numbers: ReadonlyArray<string | undefined>): ContextOverflow;
}> = [
  {
    // Anthropic: the input alone is over the model's context window.
    pattern: new RegExp(`^prompt is too long: ${COUNT} tokens > ${COUNT} maximum$`),
    render: (numbers) => anthropicOverflowWords(inputOverLimit(numbers)),
    counts: inputOverLimit,
  },
  {
    // Anthropic: the input and max_tokens together are.
    pattern: new RegExp(
      `^input length and \`?max_tokens\`? exceed context limit: ${COUNT} \\+ ${COUNT} > ${COUNT}, decrease input length or \`?max_tokens\`? and try again$`,
    ),
    render: (numbers) => anthropicOverflowWords(inputAndOutputOverLimit(numbers)),
    counts: inputAndOutputOverLimit,
  },
  {
    // OpenAI (and the servers that copy it), with the code `context_length_exceeded`.
    pattern: new RegExp(
      `^This model's maximum context length is ${COUNT} tokens\\. However, your messages resulted in ${COUNT} tokens\\.(?: Please reduce the length of the messages\\.)?$`,
    ),
    render: ([limit, input]) =>
      `This model's maximum context length is ${limit} tokens. However, your messages resulted in ${input} tokens. Please reduce the length of the messages.`,
    counts: ([limit, input]) => ({ input: Number(input), limit: Number(limit) }),
  },
  {
    pattern: new RegExp(
      `^This model's maximum context length is ${COUNT} tokens\\. However, you requested ${COUNT} tokens \\(${COUNT} in the messages, ${COUNT} in the completion\\)\\. Please reduce the length of the messages or completion\\.$`,
    ),
    render: ([limit, total, input, output]) =>
      `This model's maximum context length is ${limit} tokens. However, you requested ${total} tokens (${input} in the messages, ${output} in the completion). Please reduce the length of the messages or completion.`,
    counts: ([limit, , input, output]) => ({
      input: Number(input),
      output: Number(output),
      limit: Number(limit),
    }),
  },
  {
    // Gemini, with the input's count or without it.
    pattern: new RegExp(
      `^The input token count(?: \\(${COUNT}\\))? exceeds the maximum number of tokens allowed \\(${COUNT}\\)\\.?$`,
    ),
    render: ([input, limit]) =>
      `The input token count${input === undefined ? '' : ` (${input})`} exceeds the maximum number of tokens allowed (${limit}).`,
    counts: ([input, limit]) => ({
      ...(input !== undefined && { input: Number(input) }),
      limit: Number(limit),
    }),
  },
  {
    // OpenAI's Responses API, which gives no numbers.
    pattern:
      /^Your input exceeds the context window of this model\.(?: Please adjust your input and try again\.)?$/,
    render: () =>
      'Your input exceeds the context window of this model. Please adjust your input and try again.',
  },
];

/** A context-length refusal in a provider's error body, written again from its numbers, and those numbers. */
function contextOverflow(error: ErrorObject): { message: string; counts?: ContextOverflow } | undefined {
  const message = error?.message;
  if (typeof message !== 'string') return undefined;
  for (const { pattern, render, counts } of CONTEXT_OVERFLOWS) {
    const match = pattern.exec(message);
    if (!match) continue;
    const numbers = match.slice(1);
    return { message: render(numbers), ...(counts && { counts: counts(numbers) }) };
  }
  return undefined;
}

/**
 * Maps a provider's non-2xx answer to what the client sees. The provider's message is never passed
 * on (provider errors quote keys, account names and internal hosts); its structured `code` and
 * `param` are, when they are plain identifiers, so the client can still tell what to fix, and a
 * context-length refusal is written again from its numbers (see CONTEXT_OVERFLOWS).
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
    const retryAfterMs = retryAfterOf(headers);
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
    const retryAfterMs = retryAfterOf(headers);
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
  const error = errorObject(body);
  const { code, param } = safeFields(error);
  const overflow = status === 400 ? contextOverflow(error) : undefined;
  if (overflow !== undefined) {
    return new GatewayError(400, 'invalid_request_error', overflow.message, {
      code: 'context_length_exceeded',
      param: param ?? null,
      overflow: overflow.counts,
    });
  }
  const clientStatus = status === 404 || status === 413 || status === 422 ? status : 400;
  return new GatewayError(
    clientStatus,
    clientStatus === 404 ? 'not_found_error' : 'invalid_request_error',
    `The provider rejected the request (HTTP ${status})${code ? `: ${code}` : ''}${param ? ` (param '${param}')` : ''}`,
    { code: code ?? 'provider_rejected_request', param: param ?? null },
  );
}

/**
 * What the client is told of a provider's stream that failed after it began: an error event that
 * named its class (an overload, a rate limit) keeps that class, the status's as a failed request
 * would have it, so that the client's SDK retries what it would retry and no more whichever format
 * the provider streamed in; the words stay the gateway's mid-stream ones, as in a same-format
 * stream. A break, or an error that named nothing, stays the gateway's own.
 */
export function mapStreamFailure(error: unknown): GatewayError {
  if (!(error instanceof StreamFailure) || error.reason !== 'provider_error') return streamInterrupted;
  if (error.status === undefined) return providerFailedMidStream;
  const { status, type, code } = mapUpstreamStatus(error.status, {}, '');
  return new GatewayError(status, type, providerFailedMidStream.message, { code });
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
