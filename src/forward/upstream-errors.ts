import type { IncomingHttpHeaders } from 'node:http';
import { type ContextOverflow, GatewayError } from '../errors/gateway-error.js';
import { providerFailedMidStream, streamInterrupted } from '../errors/stream.js';
import type { SecretString } from '../keys/index.js';
import { StreamFailure } from '../providers/index.js';
import { anthropicOverflowWords } from '../surfaces/anthropic/envelope.js';
import {
  AnswerTooLarge,
  isRetryableStatus,
  LOOP_FIX,
  LOOP_STATUS,
  retryAfterMs as retryAfterOf,
  type UpstreamError,
} from '../upstream/index.js';

/**
 * A provider status worth the route's next target: the failure is the target's (busy, failing,
 * its key refused), not the request's, which the next target would refuse too.
 */
export function fallbackWorthy(status: number): boolean {
  return isRetryableStatus(status) || status === 401 || status === 403 || status >= 500;
}

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

/*
 * A provider's `code` and `param` reach the client only when they have the shape of what they name,
 * for a proxy in front of a provider may echo a key into either: a key has no such shape, whatever
 * its separators (a UUID-shaped one holds no long run of letters and digits).
 */

/**
 * An error code: words of letters joined by `_`, `.` or `-` (`context_length_exceeded`,
 * `INVALID_ARGUMENT`, `DeploymentNotFound`), one of which may end in two digits (OpenAI's
 * `invalid_base64_image`); or an HTTP status (OpenRouter's, Azure's).
 */
const CODE = /^(?:[A-Za-z]+(?:\d{1,2})?(?:[_.-][A-Za-z]+(?:\d{1,2})?)*|\d{3})$/;
const MAX_CODE_LENGTH = 64;

/**
 * A request field path: names joined by dots, each maybe indexed (`messages[0].content`,
 * OpenAI's older `messages.[0].content`, `tools[1].function.name`), or numbered segments as
 * pydantic servers write indices (`body.messages.0.content`).
 */
const NAME = '(?:[A-Za-z_][A-Za-z0-9_-]{0,63}|\\d{1,6})';
const PARAM = new RegExp(`^${NAME}(?:\\.?\\[\\d{1,6}\\]|\\.${NAME})*$`);
const MAX_PARAM_LENGTH = 128;

/**
 * A run of letters and digits this long is no word of a code or a param but may be a key: a 32-digit
 * hex key, an `sk-…`, `AIza…` or `kw_…` one.
 */
const KEY_LIKE_RUN = /[A-Za-z0-9]{24}/;

/**
 * A field name mixes letters and digits only when short (`gpt4o`, `b64_json`); a longer name that
 * does is a key's piece (`sk_live_4eC39HqLyjWDarjtT1zdp7dc`, a UUID's groups joined by `-`).
 */
const MAX_MIXED_NAME = 12;
const mixesLettersAndDigits = (name: string): boolean => /[A-Za-z]/.test(name) && /\d/.test(name);

/** The path's names, without its indices, hold this many digits at most (a key split by dots does not). */
const MAX_NAME_DIGITS = 4;

function isCode(value: string): boolean {
  if (value.length > MAX_CODE_LENGTH || !CODE.test(value) || KEY_LIKE_RUN.test(value)) return false;
  // One word may end in digits (`base64`): a key whose every group does (`ab12-cd34`) is refused.
  return (value.match(/\d+/g)?.length ?? 0) <= 1;
}

function isParam(value: string): boolean {
  if (value.length > MAX_PARAM_LENGTH || !PARAM.test(value) || KEY_LIKE_RUN.test(value)) return false;
  const names = value
    .replace(/\[\d+\]/g, '')
    .split('.')
    .filter((name) => !/^\d*$/.test(name));
  if (names.some((name) => name.length > MAX_MIXED_NAME && mixesLettersAndDigits(name))) return false;
  return names.join('').replace(/\D/g, '').length <= MAX_NAME_DIGITS;
}

/**
 * Characters in a row that a value may share with a key of the request before it is taken for a
 * piece of that key: the shape checks cannot refuse a key made of words (`Alpha-Bravo-Charlie`).
 */
const SHARED_RUN = 8;

/** Whether `value` holds a piece of one of `keys`: SHARED_RUN characters of it in a row, in any case. */
function holdsKey(value: string, keys: readonly string[]): boolean {
  const lower = value.toLowerCase();
  return keys.some((key) => {
    const secret = key.toLowerCase();
    const run = Math.min(SHARED_RUN, secret.length);
    for (let at = 0; at + run <= lower.length; at++) {
      if (secret.includes(lower.slice(at, at + run))) return true;
    }
    return false;
  });
}

/** The error's code and param that may reach the client: well shaped, and holding no key of the request. */
function safeFields(
  error: ErrorObject,
  keys: ReadonlyArray<SecretString | undefined>,
): { code?: string; param?: string } {
  const code = typeof error?.code === 'string' && isCode(error.code) ? error.code : undefined;
  const param = typeof error?.param === 'string' && isParam(error.param) ? error.param : undefined;
  if (code === undefined && param === undefined) return {};
  const known = keys.flatMap((key) => (key ? [key.reveal()] : [])).filter((key) => key.length > 0);
  return {
    ...(code !== undefined && !holdsKey(code, known) && { code }),
    ...(param !== undefined && !holdsKey(param, known) && { param }),
  };
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
 * `param` are, when shaped as a code and a field path and holding none of `keys` (the request's:
 * the key it was sent with, a client's own), so the client can still tell what to fix, and a
 * context-length refusal is written again from its numbers (see CONTEXT_OVERFLOWS). The param
 * names a field of the body the provider was sent: on a `translated` route that body is the
 * gateway's, whose fields the client never wrote, and the param is left out.
 */
export function mapUpstreamStatus(
  status: number,
  headers: IncomingHttpHeaders,
  body: string,
  keys: ReadonlyArray<SecretString | undefined> = [],
  translated = false,
): GatewayError {
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
  if (status === LOOP_STATUS) {
    // A gateway further on refused the request as looping: passed on as a 508, which no SDK or
    // gateway retries (a 502 is retried at every hop, multiplying a loop through several).
    return new GatewayError(
      LOOP_STATUS,
      'server_error',
      `Request loop: the provider answered 508 Loop Detected. ${LOOP_FIX}`,
      { code: 'loop_detected' },
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
  const { code, param: named } = safeFields(error, keys);
  const param = translated ? undefined : named;
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
  if (error instanceof AnswerTooLarge) return answerTooLarge(error.limit);
  if (!(error instanceof StreamFailure) || error.reason !== 'provider_error') return streamInterrupted;
  if (error.status === undefined) return providerFailedMidStream;
  const { status, type, code } = mapUpstreamStatus(error.status, {}, '');
  return new GatewayError(status, type, providerFailedMidStream.message, { code });
}

/** The provider answered (and bills it), but with more than any answer holds: the rest is not read. */
export function answerTooLarge(limit: number): GatewayError {
  return new GatewayError(
    502,
    'upstream_error',
    `The provider's answer is larger than ${limit / (1024 * 1024)} MiB, the most the gateway reads of one; ask for less (fewer inputs, a lower max_tokens)`,
    { code: 'provider_answer_too_large' },
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
