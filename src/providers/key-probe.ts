import type { IncomingHttpHeaders } from 'node:http';
import type { ProviderConfig, ProviderType } from '../config/index.js';
import type { KeyVerdict, SecretString } from '../keys/index.js';
import { API_VERSION } from './anthropic/index.js';
import { baseHeaders, basePath } from './openai/index.js';
import { isRecord } from './wire-values.js';

/**
 * How to ask a provider whether one of its keys works, independently of any client request: a
 * cheap authenticated GET (the model list), and how to read the answer.
 */
export interface KeyProbe {
  call(key: SecretString): { path: string; headers: Record<string, string> };
  /**
   * Whether an error answer says the key itself is invalid or revoked, rather than that this key
   * may not use a model, region or project (which benches nothing).
   */
  saysKeyInvalid(status: number, body: string): boolean;
  /**
   * Whether an error answer to the probe still shows the key authenticated: a restricted key that
   * may call models but not list them. Such a key works; benching it would let any client who gets
   * it refused once (a model its project lacks) take it out of rotation.
   */
  authenticatedDespite?(status: number, body: string): boolean;
  /**
   * Whether a 429 is about the request rather than the key: the request alone needs more than the
   * key's per-minute limit, so it fails on any key at any time. Cooling the key for it would let
   * one client take every key out of rotation. Absent for providers whose 429s do not tell.
   */
  saysRequestTooLarge?(body: string): boolean;
  /**
   * A 429 that names a token quota, per minute or per day (Gemini's input-token quotas, whose 429s
   * carry no rate-limit headers): the quota's size in tokens, `null` when the answer does not say
   * it; undefined for any other 429. The request's own content may have filled such a quota (a
   * short body naming a long video counts hundreds of thousands of tokens): the lease weighs the
   * request against it before it blames the key.
   */
  tokenQuota?(body: string): number | null | undefined;
  /**
   * A 429 that names a per-day quota (Gemini's `…PerDay…` quota ids): when it resets (epoch ms),
   * the key being out for the model until then; undefined for any other 429. Its `RetryInfo` is no
   * guide: Google sends one of seconds with a per-day quota too.
   */
  quotaResetsAt?(body: string, now: number): number | undefined;
  /** How long a 429's body says to wait, where the provider says it there (Gemini's `RetryInfo`). */
  retryDelayMs?(body: string): number | undefined;
  /**
   * What a 429's rate-limit headers say of the key: true when one of the limits they name is spent
   * (under a twentieth of it left), false when every one has room (the request alone does not fit
   * what is left: another key may take it, and this one still takes smaller requests), undefined
   * when they name none.
   */
  saysKeyExhausted?(headers: IncomingHttpHeaders): boolean | undefined;
  /**
   * Whether an error answer says the key's account is out of credit (OpenAI's 429
   * `insufficient_quota`; Anthropic's 402 `billing_error` or 400 "Your credit balance is too low"):
   * spent whatever its rate-limit headers say, for every model. Read on a 429 where the body is
   * read for `saysRequestTooLarge`, and on the statuses of `judgedStatuses`.
   */
  saysQuotaSpent?(body: string, status: number): boolean;
  /**
   * Error statuses other than 401, 403 and 429 on which the provider may say the key is invalid
   * (`saysKeyInvalid`: Gemini answers a bad key 400) or its account spent (`saysQuotaSpent`:
   * Anthropic, 400 or 402). The lease reads (peeks) the body of these alone, so a provider without
   * them, and every successful answer, costs nothing more.
   */
  judgedStatuses?: ReadonlySet<number>;
}

/** A limit with less than this share left counts as spent. */
const EXHAUSTED_SHARE = 0.05;

const headerNumber = (value: string | string[] | undefined): number | undefined => {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : undefined;
};

/** `pairs` name each limit's remaining and total headers. */
const limitsSpent =
  (pairs: ReadonlyArray<readonly [remaining: string, limit: string]>) =>
  (headers: IncomingHttpHeaders): boolean | undefined => {
    let named = false;
    for (const [remainingHeader, limitHeader] of pairs) {
      const remaining = headerNumber(headers[remainingHeader]);
      if (remaining === undefined) continue;
      named = true;
      const limit = headerNumber(headers[limitHeader]);
      if (remaining <= (limit !== undefined && limit > 0 ? limit * EXHAUSTED_SHARE : 0)) return true;
    }
    return named ? false : undefined;
  };

/** OpenAI (and Azure OpenAI): `x-ratelimit-remaining-requests`, `x-ratelimit-limit-tokens`, … */
const openAILimitsSpent = limitsSpent([
  ['x-ratelimit-remaining-requests', 'x-ratelimit-limit-requests'],
  ['x-ratelimit-remaining-tokens', 'x-ratelimit-limit-tokens'],
]);

/** Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,limit}`. */
const anthropicLimitsSpent = limitsSpent(
  ['requests', 'tokens', 'input-tokens', 'output-tokens'].map(
    (kind) => [`anthropic-ratelimit-${kind}-remaining`, `anthropic-ratelimit-${kind}-limit`] as const,
  ),
);

function errorObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * OpenAI's restricted keys: `401 {"error":{"code":"missing_scope","message":"You have insufficient
 * permissions for this operation. Missing scopes: api.model.read. …"}}`.
 */
const openAIMissingScope = (_status: number, body: string): boolean =>
  errorObject(body)?.code === 'missing_scope';

/** OpenAI and its imitators: `{"error":{"code":"invalid_api_key"}}`; Azure: `{"error":{"code":"401"}}`. */
const openAIKeyInvalid = (status: number, body: string): boolean => {
  const code = errorObject(body)?.code;
  if (code === 'missing_scope') return false;
  return status === 401 || code === 'invalid_api_key' || code === '401';
};

/**
 * OpenAI: `{"error":{"message":"Request too large for gpt-4o … on tokens per min (TPM): Limit
 * 30000, Requested 36278. …","type":"tokens","code":"rate_limit_exceeded"}}`. Anthropic's 429 reads
 * the same whether the request alone or the minute's traffic is too much, so it has no such test.
 */
const openAIQuotaSpent = (body: string): boolean => errorObject(body)?.code === 'insufficient_quota';

const openAIRequestTooLarge = (body: string): boolean => {
  const message = errorObject(body)?.message;
  return typeof message === 'string' && message.startsWith('Request too large');
};

/** Anthropic: `{"type":"error","error":{"type":"authentication_error"}}`; a permission_error is not. */
const anthropicKeyInvalid = (status: number, body: string): boolean =>
  status === 401 || errorObject(body)?.type === 'authentication_error';

/**
 * How Anthropic words a 400 `invalid_request_error` that is about the account, not the request:
 * out of credit ("Your credit balance is too low to access the Anthropic API. Please go to Plans &
 * Billing to upgrade or purchase credits.") or past the spend limit its organisation or workspace
 * set ("You have reached your specified API usage limits…", "…workspace API usage limits…").
 */
const ANTHROPIC_ACCOUNT_SPENT = [
  'Your credit balance is too low to access the Anthropic API',
  'You have reached your specified API usage limits',
  'You have reached your specified workspace API usage limits',
];

/**
 * Anthropic's account is out of credit: a 402 (`billing_error`), or a 400 `invalid_request_error`
 * whose message starts with one of the sentences above. Only the message's start counts, and only
 * in the error envelope's own `message` field: a client cannot put words there (Anthropic's
 * messages quote a request's fields after a path such as `messages.0.content: `, never first), so
 * no request can make a key look spent.
 */
const anthropicQuotaSpent = (body: string, status: number): boolean => {
  if (status === 402) return true;
  const error = errorObject(body);
  if (error?.type === 'billing_error') return true;
  if (status !== 400 || error?.type !== 'invalid_request_error' || typeof error.message !== 'string')
    return false;
  const message = error.message;
  return ANTHROPIC_ACCOUNT_SPENT.some((sentence) => message.startsWith(sentence));
};

const errorDetails = (body: string): Record<string, unknown>[] => {
  const details = errorObject(body)?.details;
  return Array.isArray(details) ? details.filter(isRecord) : [];
};

/** The quota ids of a Gemini 429's `QuotaFailure` details, with each one's `quotaValue`. */
function geminiViolations(body: string): Array<{ quotaId: string; quotaValue: unknown }> {
  const violations: Array<{ quotaId: string; quotaValue: unknown }> = [];
  for (const detail of errorDetails(body)) {
    if (!Array.isArray(detail.violations)) continue;
    for (const violation of detail.violations)
      if (isRecord(violation))
        violations.push({ quotaId: String(violation.quotaId ?? ''), quotaValue: violation.quotaValue });
  }
  return violations;
}

/**
 * Gemini's 429: a `QuotaFailure` detail whose violated quota counts tokens, per minute
 * (`GenerateContentInputTokensPerModelPerMinute…`) or per day
 * (`GenerateContentPaidTierInputTokensPerModelPerDay`), with its `quotaValue`.
 */
const geminiTokenQuota = (body: string): number | null | undefined => {
  const violation = geminiViolations(body).find(({ quotaId }) => /Tokens.*Per(Minute|Day)/i.test(quotaId));
  if (!violation) return undefined;
  const limit = Number(violation.quotaValue);
  return Number.isSafeInteger(limit) && limit > 0 ? limit : null;
};

/** Pacific time's wall clock, read field by field (`hourCycle: 'h23'`: midnight is 0, never 24). */
const PACIFIC = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles',
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
  second: 'numeric',
});

/** How far Pacific time's wall clock is ahead of UTC at `at` (ms; negative, -8 h or -7 h). */
function pacificOffset(at: number): number {
  const part = Object.fromEntries(PACIFIC.formatToParts(at).map(({ type, value }) => [type, Number(value)]));
  const wall = Date.UTC(part.year!, part.month! - 1, part.day!, part.hour!, part.minute!, part.second!);
  return wall - (at - (at % 1000));
}

/**
 * The next midnight in Pacific time after `now`, when Gemini's per-day quotas reset. Daylight
 * saving changes the offset at 02:00, so the offset is the one midnight itself has.
 */
export function nextPacificMidnight(now: number): number {
  const today = new Date(now + pacificOffset(now));
  const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + 1);
  return midnight - pacificOffset(midnight - pacificOffset(now));
}

/** Gemini's 429 naming a per-day quota: spent until the next Pacific midnight. */
const geminiQuotaResetsAt = (body: string, now: number): number | undefined =>
  geminiViolations(body).some(({ quotaId }) => /PerDay/i.test(quotaId))
    ? nextPacificMidnight(now)
    : undefined;

/** Gemini's `RetryInfo` detail: `retryDelay` in seconds, as `"56s"` or `"1.5s"`. */
const geminiRetryDelay = (body: string): number | undefined => {
  for (const detail of errorDetails(body)) {
    const match = /^(\d+(?:\.\d+)?)s$/.exec(String(detail.retryDelay ?? ''));
    if (match) return Math.ceil(Number(match[1]) * 1000);
  }
  return undefined;
};

/** Gemini answers a bad key with 400 INVALID_ARGUMENT whose ErrorInfo reason is API_KEY_INVALID. */
const geminiKeyInvalid = (status: number, body: string): boolean =>
  status === 401 || errorDetails(body).some((detail) => detail.reason === 'API_KEY_INVALID');

/** Anthropic's account-spent answers come as 400 or 402; Gemini's invalid key as 400. */
const ANTHROPIC_JUDGED: ReadonlySet<number> = new Set([400, 402]);
const GEMINI_JUDGED: ReadonlySet<number> = new Set([400]);

type ProbeFactory = (config: ProviderConfig) => KeyProbe | undefined;

const bearerProbe: ProbeFactory = (config) => {
  const path = `${basePath(config)}/models`;
  const headers = baseHeaders(config);
  return {
    call: (key) => ({ path, headers: { ...headers, authorization: `Bearer ${key.reveal()}` } }),
    saysKeyInvalid: openAIKeyInvalid,
    authenticatedDespite: openAIMissingScope,
    saysRequestTooLarge: openAIRequestTooLarge,
    saysKeyExhausted: openAILimitsSpent,
    saysQuotaSpent: openAIQuotaSpent,
  };
};

/** One line per provider type. Ollama takes no key: there is nothing to probe. */
const probes: Record<ProviderType, ProbeFactory> = {
  openai: bearerProbe,
  'openai-compatible': bearerProbe,
  'azure-openai': (config) => {
    const path = `${basePath(config)}/models?api-version=${encodeURIComponent(config.apiVersion ?? '')}`;
    const headers = baseHeaders(config);
    return {
      call: (key) => ({ path, headers: { ...headers, 'api-key': key.reveal() } }),
      saysKeyInvalid: openAIKeyInvalid,
      authenticatedDespite: openAIMissingScope,
      saysRequestTooLarge: openAIRequestTooLarge,
      saysKeyExhausted: openAILimitsSpent,
      saysQuotaSpent: openAIQuotaSpent,
    };
  },
  anthropic: (config) => {
    const path = `${basePath(config)}/models`;
    const headers = { ...baseHeaders(config), 'anthropic-version': API_VERSION };
    return {
      call: (key) => ({ path, headers: { ...headers, 'x-api-key': key.reveal() } }),
      saysKeyInvalid: anthropicKeyInvalid,
      saysKeyExhausted: anthropicLimitsSpent,
      saysQuotaSpent: anthropicQuotaSpent,
      judgedStatuses: ANTHROPIC_JUDGED,
    };
  },
  gemini: (config) => {
    const path = `${basePath(config)}/models?pageSize=1`;
    const headers = baseHeaders(config);
    return {
      call: (key) => ({ path, headers: { ...headers, 'x-goog-api-key': key.reveal() } }),
      saysKeyInvalid: geminiKeyInvalid,
      judgedStatuses: GEMINI_JUDGED,
      tokenQuota: geminiTokenQuota,
      quotaResetsAt: geminiQuotaResetsAt,
      retryDelayMs: geminiRetryDelay,
    };
  },
  ollama: () => undefined,
};

export function createKeyProbe(config: ProviderConfig): KeyProbe | undefined {
  return probes[config.type](config);
}

/**
 * The verdict of a probe's answer: 2xx works, as does an error that shows the key authenticated;
 * an answer that names the key as invalid benches it.
 */
export function probeVerdict(probe: KeyProbe, status: number, body: string): KeyVerdict {
  if ((status >= 200 && status < 300) || probe.authenticatedDespite?.(status, body)) return 'valid';
  return probe.saysKeyInvalid(status, body) ? 'invalid' : 'unknown';
}
