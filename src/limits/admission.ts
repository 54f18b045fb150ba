import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PriceTable } from '../accounting/index.js';
import type { Principal } from '../auth/index.js';
import { bodyField } from '../canonical/body-field.js';
import type { Config } from '../config/index.js';
import { clientClosed, GatewayError } from '../errors/gateway-error.js';
import type { Usage } from '../providers/index.js';
import { inUtcDay, isEmpty, type Rules, rulesFor, utcDayEnd } from './admission-rules.js';
import type { AcquireRequest, Acquisition, Denial, Lease, Limiter, Quota } from './index.js';
import { imagesTokens, mediaWeight } from './remote-input.js';
import { StatusUnavailableError } from './unwritten-usage.js';

/**
 * Output tokens assumed for a request that sets no max_tokens, until its real usage settles, when
 * no target fills one in (then the forwarder's `defaultOutput`, what the provider is sent, counts).
 */
const DEFAULT_OUTPUT_ESTIMATE = 1024;
/** Routes that embed a batch of inputs, each up to a model's window. */
const EMBEDDING_BATCH_ROUTES = new Set(['/v1/embeddings', '/v1beta/models/{model}:batchEmbedContents']);
/** Routes whose answers generate no tokens. */
const NO_OUTPUT_ROUTES = new Set([
  ...EMBEDDING_BATCH_ROUTES,
  '/v1/messages/count_tokens',
  '/v1beta/models/{model}:countTokens',
  '/v1beta/models/{model}:embedContent',
]);

/** The wait a refusal for a full concurrency limit names: slots free as requests end. */
const IN_FLIGHT_RETRY_MS = 1_000;
/** How long a stored-state call may hold its concurrency slot if it is never settled. */
const STATE_CALL_LEASE_MS = 60_000;
/** A JSON body holds roughly one token per four bytes of text: what the rate limits take. */
const BYTES_PER_TOKEN = 4;

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** Header names made once: names built per request were new strings for every header set. */
const QUOTA_HEADERS = {
  requests: ['x-ratelimit-limit-requests', 'x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  tokens: ['x-ratelimit-limit-tokens', 'x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
} as const;

function quotaHeaders(reply: FastifyReply, kind: 'requests' | 'tokens', quota: Quota | undefined): void {
  if (!quota) return;
  const [limit, remaining, reset] = QUOTA_HEADERS[kind];
  reply.header(limit, String(quota.limit));
  reply.header(remaining, String(Math.max(0, Math.floor(quota.remaining))));
  reply.header(reset, `${seconds(quota.resetMs)}s`);
}

/**
 * The subject a rule key names, for messages: `this token`, or the token it was minted under,
 * `this user`, `this key`.
 */
function subjectOf(key: string, tokenId: string | undefined): string {
  if (key.includes(':token:')) {
    const own =
      tokenId === undefined || key.endsWith(`:token:${tokenId}`) || key.includes(`:token:${tokenId}:`);
    return own ? 'this token' : 'a token this one was minted under';
  }
  if (key.includes(':user:') || key.startsWith('budget:user:')) return 'this user';
  return 'this key';
}

const tokenIdOf = (principal: Principal | undefined): string | undefined =>
  principal?.kind === 'token' ? principal.tokenId : undefined;

/** What a budget's refusal names of the request it refuses (none when no request was weighed). */
interface BudgetSizing {
  /** The input tokens it reserved. */
  inputTokens: number;
  /** Its input alone costs more than the whole budget refusing it. */
  inputOver: boolean;
  /** Its input holds media carried inline or content named by URL or file id, not only text. */
  media: boolean;
  /** The field its client names the output limit by (`max_tokens`, `max_output_tokens`, …). */
  outputField: string;
}

/** What a request's input was reserved at, and what it holds besides text. */
const inputPart = (sizing: BudgetSizing): string =>
  `${sizing.media ? 'inline media or content named by URL or file id, ' : ''}reserved at ${sizing.inputTokens.toLocaleString('en-US')} tokens`;

/** What a request's estimated cost is made of, in its client's names. */
function costParts(sizing: BudgetSizing | undefined): string {
  if (!sizing) return "its input and its output limit, or the gateway's ceiling when it sends none";
  return `its input, ${inputPart(sizing)}, and its ${sizing.outputField}, or the gateway's ceiling when it sends none`;
}

function denialError(denial: Denial, tokenId: string | undefined, sizing?: BudgetSizing): GatewayError {
  const retry = seconds(denial.retryAfterMs);
  const headers = { 'retry-after': String(retry) };
  switch (denial.kind) {
    case 'unavailable':
      return new GatewayError(
        503,
        'service_unavailable',
        'Rate limits cannot be checked right now; retry shortly',
        {
          code: 'rate_limiter_unavailable',
          headers,
        },
      );
    case 'budget':
      if (denial.oversized) return budgetTooSmall(denial.key, subjectOf(denial.key, tokenId), sizing);
      return denial.spent
        ? budgetSpent(denial.key, subjectOf(denial.key, tokenId), sizing)
        : new GatewayError(
            429,
            'rate_limit_error',
            `The budget of ${subjectOf(denial.key, tokenId)} has too little left for this request's estimated cost (${costParts(sizing)}) while requests in flight hold their reservations; retry after ${retry} s`,
            { code: 'budget_exceeded', headers },
          );
    case 'concurrency':
      return new GatewayError(
        429,
        'rate_limit_error',
        `Too many requests in flight for ${subjectOf(denial.key, tokenId)}; retry after ${retry} s`,
        {
          code: 'concurrency_limit_exceeded',
          headers,
        },
      );
    default:
      return new GatewayError(
        429,
        'rate_limit_error',
        `Rate limit of ${subjectOf(denial.key, tokenId)} reached (${denial.kind} per minute); retry after ${retry} s`,
        { code: 'rate_limit_exceeded', headers },
      );
  }
}

/**
 * A budget whose spend alone leaves too little: nothing frees before its period turns, at the next
 * UTC day or month (the period is the key's last part), and a total budget never does. The
 * counter's own lifetime, which the limiter's wait is, says neither. `x-should-retry: false` tells
 * the OpenAI and Anthropic SDKs not to retry what cannot succeed before then.
 */
function budgetSpent(key: string, subject: string, sizing: BudgetSizing | undefined): GatewayError {
  const kind = budgetPeriod(key);
  const now = new Date();
  const message = (when: string) =>
    `The ${kind} budget of ${subject} is spent, or has too little left for this request's estimated cost (${costParts(sizing)}); ${when}`;
  if (kind === 'total') {
    return new GatewayError(429, 'rate_limit_error', message('it does not reset: an admin can raise it'), {
      code: 'budget_exceeded',
      headers: { 'x-should-retry': 'false' },
    });
  }
  const monthly = kind === 'monthly';
  const turns = monthly
    ? Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)
    : Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  const wait = seconds(turns - now.getTime());
  const at = monthly ? `on ${new Date(turns).toISOString().slice(0, 10)} (UTC)` : 'at 00:00 UTC';
  return new GatewayError(429, 'rate_limit_error', message(`it starts again ${at}, in ${wait} s`), {
    code: 'budget_exceeded',
    headers: { 'retry-after': String(wait), 'x-should-retry': 'false' },
  });
}

/** A budget's period, from its key's last part: `total`, a month (`2026-12`) or a day. */
function budgetPeriod(key: string): 'total' | 'monthly' | 'daily' {
  const period = key.slice(key.lastIndexOf(':') + 1);
  return period === 'total' ? 'total' : period.length === 7 ? 'monthly' : 'daily';
}

/**
 * A request whose estimate alone is more than the whole budget: retrying cannot help, and a smaller
 * one still passes. What is too large is named: the input, when it costs more than the budget by
 * itself (media or content named by URL is reserved up to the context window, which no output
 * limit changes), else the output limit (a lower one, or any at all where the gateway's ceiling
 * was reserved), in the field the client sends it in.
 */
function budgetTooSmall(key: string, subject: string, sizing: BudgetSizing | undefined): GatewayError {
  const budget = `the whole ${budgetPeriod(key)} budget of ${subject}`;
  const message = sizing?.inputOver
    ? `This request's input (${inputPart(sizing)}) is estimated at more than ${budget} by itself; send less input, or an admin can raise the budget`
    : `This request's estimated cost (${costParts(sizing)}) is more than ${budget}; send a lower ${sizing?.outputField ?? 'output limit'}, or an admin can raise the budget`;
  return new GatewayError(429, 'rate_limit_error', message, {
    code: 'budget_exceeded',
    headers: { 'x-should-retry': 'false' },
  });
}

/** A provider's model a request may be served by: the route's target or one of its fallbacks. */
export interface ServingTarget {
  /** Its type says how its models count an image (`imagesTokens`). */
  provider: { id: string; config: { type: string } };
  model: string;
  /** The target is sent the request's ask for fast processing, billed at a multiple of its rates. */
  fast?: boolean;
  /** The most searches the target's own web search tool may run for the request, billed per search. */
  webSearches?: number | undefined;
}

/** What a budget cannot hold: a model whose tokens would cost nothing. */
function notPriced(target: ServingTarget): GatewayError {
  return new GatewayError(
    403,
    'permission_error',
    `Model '${target.model}' of provider '${target.provider.id}' has no price, so this credential's budget cannot hold it; use a priced model, or the operator adds it under 'pricing' in the config`,
    { code: 'model_not_priced' },
  );
}

/** Nor a model that runs a web search on every call, priced without one. */
function searchModelNotPriced(target: ServingTarget): GatewayError {
  return new GatewayError(
    403,
    'permission_error',
    `Model '${target.model}' of provider '${target.provider.id}' runs a web search on every call, billed per call beside its tokens, and its price names none, so this credential's budget cannot hold it; use another model, or the operator sets 'webSearch' (US dollars per 1,000 calls) for it under 'pricing' in the config`,
    { code: 'model_not_priced' },
  );
}

/** What a budget cannot hold either: fast processing billed at a multiple nobody priced. */
function fastNotPriced(target: ServingTarget): GatewayError {
  return new GatewayError(
    403,
    'permission_error',
    `Fast processing of model '${target.model}' of provider '${target.provider.id}' (service_tier 'priority' or 'fast', speed 'fast', serviceTier 'priority') is billed above the model's price, and no price says by how much, so this credential's budget cannot hold it; leave the option out, or the operator sets 'fast' (the multiple of the model's rates) for it under 'pricing' in the config`,
    { code: 'fast_not_priced' },
  );
}

/** Nor web searches billed per search at a price nobody set. */
function searchNotPriced(target: ServingTarget): GatewayError {
  return new GatewayError(
    403,
    'permission_error',
    `Web searches by model '${target.model}' of provider '${target.provider.id}' are billed per search, and its price names none, so this credential's budget cannot hold them; leave the web search tool out, or the operator sets 'webSearch' (US dollars per 1,000 searches) for it under 'pricing' in the config`,
    { code: 'web_search_not_priced', param: 'tools' },
  );
}

/** What admission reads of a request's surface besides its body (a surface binding is one). */
export interface RequestShape {
  /** The names its bodies give the output-token limit, preferred first (the ceilings' fields). */
  readonly maxTokensFields: readonly string[];
  /** The names its bodies give the number of choices (OpenAI's `n`), each as long as the output. */
  readonly choicesFields?: readonly string[];
  /**
   * JSON bytes of input sent upstream that the client's body does not carry (stored history
   * replayed, items copied by reference, a template's rendered prompt): left out of its size.
   */
  readonly addedInputBytes?: number;
  /**
   * That input itself (stored items replayed or copied by reference), which a budget walks for
   * media as it walks the body: a PDF by URL in a stored history costs what it costs in the body.
   */
  readonly addedInput?: readonly unknown[];
}

/** What admission learns of a request that a budget's refusal names. */
interface Sized {
  /** The target its estimate was priced dearest at. */
  target: ServingTarget | undefined;
  /** Its input holds media carried inline or content named by URL or file id. */
  media: boolean;
  /** Its body and surface, which name its output limit (read only for a refusal). */
  body: Record<string, unknown>;
  shape: RequestShape;
}

/** The output-limit field `body` sets, else the surface's preferred one (a Gemini path's last part). */
function outputFieldOf(body: Record<string, unknown>, shape: RequestShape): string {
  const field =
    shape.maxTokensFields.find((name) => bodyField(body, name) !== undefined) ?? shape.maxTokensFields[0];
  return field?.slice(field.lastIndexOf('.') + 1) ?? 'max_tokens';
}

/** What admission tells the operator about. */
export interface AdmissionEvents {
  /** A request refused because a budget is spent (not only reserved by requests in flight): an alert. */
  onBudgetExhausted(subject: string): void;
  /** A lease the limiter could not settle or release: its slots stay taken until it lapses. */
  onSettleFailed(error: unknown): void;
}

/** The first of `fields` the body gives a number, if any. */
function firstNumber(
  body: Record<string, unknown>,
  fields: readonly string[] | undefined,
): number | undefined {
  if (fields === undefined) return undefined;
  for (const field of fields) {
    const value = bodyField(body, field);
    if (typeof value === 'number') return value;
    if (value !== undefined && value !== null) return undefined;
  }
  return undefined;
}

/**
 * The lease of a request nothing limits: the limiter holds nothing for it, so there is nothing to
 * settle. It keeps what the request was admitted with, so that its tokens are estimated only when
 * settlement needs them (its usage never came), not for every request.
 */
class Unheld implements Lease {
  readonly id = '';
  constructor(
    readonly body: Record<string, unknown>,
    readonly shape: RequestShape,
    /** The most searches a target's own search tool may run for it (`searchesAllowed`). */
    readonly webSearches: number,
  ) {}
}

/**
 * The most searches a target that may serve the request allows: charged, as its tokens are, when
 * its usage never comes (a stream cut before its count), whether a budget holds it or not.
 */
const searchesAllowed = (serving: readonly ServingTarget[]): number =>
  serving.reduce((most, candidate) => Math.max(most, candidate.webSearches ?? 0), 0);

const choicesOf = (body: Record<string, unknown>, shape: RequestShape): number =>
  Math.max(1, firstNumber(body, shape.choicesFields) ?? 1);

/**
 * Whether the answer may be spoken: Chat Completions' `modalities` naming audio, or its `audio`
 * output options. OpenAI bills spoken output far above text (`Price.audioOutput`), and any of the
 * answer's tokens may be audio.
 */
const maySpeak = (body: Record<string, unknown>): boolean =>
  (Array.isArray(body.modalities) && body.modalities.includes('audio')) ||
  (body.audio !== undefined && body.audio !== null);

/**
 * A request's tokens before its usage is known: its input by its size (with any input sent that
 * its body does not carry), and its output limit times its choices, or what the target is sent
 * when it names none, else DEFAULT_OUTPUT_ESTIMATE.
 */
function tokenEstimate(
  request: FastifyRequest,
  body: Record<string, unknown>,
  shape: RequestShape,
  bytes = inputBytes(request, body, shape),
): Usage {
  const asked = firstNumber(body, shape.maxTokensFields) ?? request.kw.defaultOutput;
  const output = NO_OUTPUT_ROUTES.has(request.kw.route)
    ? 0
    : (asked ?? DEFAULT_OUTPUT_ESTIMATE) * choicesOf(body, shape);
  const estimate: Usage = { inputTokens: Math.ceil(bytes / BYTES_PER_TOKEN), outputTokens: output };
  if (output > 0 && maySpeak(body)) estimate.audioOutputTokens = output;
  return estimate;
}

/** The bytes of a request's input: its body, and any input sent that the body does not carry. */
function inputBytes(request: FastifyRequest, body: Record<string, unknown>, shape: RequestShape): number {
  // A chunked body has no length header: measured, or it would reserve nothing for its input.
  const length = request.headers['content-length'];
  const bytes = length === undefined ? Buffer.byteLength(JSON.stringify(body)) : Number(length);
  return bytes + (shape.addedInputBytes ?? 0);
}

/**
 * Holds each request to its limits and budgets: takes an estimate before the call (tokens from the
 * body size with any replayed history, and max_tokens times the choices; cost from the price
 * table), answers 429 or 503 when it may not go, and settles the real tokens and cost when the
 * response is over.
 */
export class Admission {
  /**
   * Rules per principal, rebuilt when a budget period may have turned (the next UTC midnight), or
   * when the clock went back before the day they were built in (a step forward corrected): they
   * depend only on the token record (fixed once minted), the config and the period.
   */
  private cached = new WeakMap<object, { rules: Rules; until: number }>();

  constructor(
    private readonly limiter: Limiter,
    private config: Config,
    private readonly prices: PriceTable,
    private readonly events: AdmissionEvents,
  ) {}

  /**
   * Re-read limits and budgets (SIGHUP): every principal's rules are rebuilt on its next request.
   * Buckets and spend already counted carry over.
   */
  reload(config: Config): void {
    this.config = config;
    this.cached = new WeakMap();
  }

  /**
   * Undefined when the request was decided on the spot (nothing limits it, or the limiter keeps
   * its state here): the hot path then pays no promise. Throws, or rejects, with the refusal.
   */
  admit(
    request: FastifyRequest,
    reply: FastifyReply,
    /** How long its reservations are held unless settled sooner. */
    leaseMs: number,
    body: Record<string, unknown>,
    shape: RequestShape,
    /** Every target that may serve the request (fallbacks included): a budget needs each priced. */
    serving: readonly ServingTarget[],
  ): Promise<void> | undefined {
    const rules = this.rules(request.kw.principal);
    if (!rules) {
      request.kw.lease = new Unheld(body, shape, searchesAllowed(serving));
      return undefined;
    }
    // Fail closed: an unpriced model costs 0, so a budget would let it spend without a ceiling.
    if (rules.budgets.length > 0) {
      for (const candidate of serving) {
        const price = this.prices.find(candidate.provider.id, candidate.model);
        if (!price)
          throw this.prices.searchesOnEveryCall(candidate.model)
            ? searchModelNotPriced(candidate)
            : notPriced(candidate);
        if (candidate.fast && price.fast === undefined) throw fastNotPriced(candidate);
        if (candidate.webSearches && price.webSearch === undefined) throw searchNotPriced(candidate);
      }
    }
    // Only a budget's refusal names what it weighed: nothing is kept for a request under none.
    const sized: Sized | undefined =
      rules.budgets.length > 0 ? { target: undefined, media: false, body, shape } : undefined;
    return this.take(
      request,
      reply,
      this.acquisitionFor(request, leaseMs, body, shape, rules, serving, sized),
      sized,
    );
  }

  /**
   * Admission for a call that reaches no provider (the stored-state routes: conversations, stored
   * responses): it takes a request from the rate limits and a concurrency slot, no tokens and no
   * budget, so that cheap writes cannot be sent without a ceiling either.
   */
  admitCall(request: FastifyRequest, reply: FastifyReply): Promise<void> | undefined {
    const rules = this.rules(request.kw.principal);
    if (!rules) return undefined;
    const rates = rules.rates.filter((rule) => rule.kind === 'requests');
    if (rates.length === 0 && rules.concurrency.length === 0) return undefined;
    return this.take(request, reply, {
      rates,
      concurrency: rules.concurrency,
      budgets: [],
      tokenEstimate: 0,
      costEstimateMicros: 0,
      leaseMs: STATE_CALL_LEASE_MS,
    });
  }

  /**
   * Refuses now what admission would refuse whatever the request asks: a request rate with
   * nothing left, a concurrency limit full, a budget spent. Takes nothing. For work a route does
   * before admission can weigh the request (reading and opening a stored history, up to the
   * context window): refused only after it, a client past its limits could have that work done
   * at any rate. A limiter that cannot be asked refuses nothing here; admission decides.
   */
  async refuseIfSpent(request: FastifyRequest): Promise<void> {
    const { principal } = request.kw;
    if (!this.rules(principal)) return;
    // Built afresh, not the cached rules: a budget's time to its reset is the retry's wait.
    const rules = rulesFor(principal, this.config, Date.now());
    const rates = rules.rates.filter((rule) => rule.kind === 'requests');
    let status: Awaited<ReturnType<Limiter['status']>>;
    try {
      status = await this.limiter.status(rates, rules.concurrency, rules.budgets);
    } catch {
      return;
    }
    const denial =
      status.rates
        .filter((rate) => rate.remaining < 1)
        .map(
          (rate): Denial => ({
            kind: 'requests',
            key: rate.key,
            retryAfterMs: ((1 - rate.remaining) * rate.windowMs) / rate.limit,
          }),
        )[0] ??
      status.concurrency
        .filter((slots) => slots.inUse >= slots.limit)
        .map(
          (slots): Denial => ({ kind: 'concurrency', key: slots.key, retryAfterMs: IN_FLIGHT_RETRY_MS }),
        )[0] ??
      status.budgets
        .filter((budget) => budget.spentMicros >= budget.limitMicros)
        .map(
          (budget): Denial => ({ kind: 'budget', key: budget.key, retryAfterMs: budget.ttlMs, spent: true }),
        )[0];
    if (denial) throw denialError(denial, tokenIdOf(principal));
  }

  private take(
    request: FastifyRequest,
    reply: FastifyReply,
    asked: AcquireRequest,
    sized?: Sized,
  ): Promise<void> | undefined {
    const decided = this.limiter.tryAcquire?.(asked);
    if (decided) {
      this.apply(request, reply, decided, asked, sized);
      return undefined;
    }
    return this.limiter.acquire(asked).then((acquisition) => {
      // The client left while the limiter decided. The response's 'close', which settles a lease,
      // came before there was one: released here, or its concurrency slot and budget reservation
      // would stay taken until the lease lapses (minutes), and the request goes no further.
      if (acquisition.allowed && reply.raw.destroyed) {
        this.limiter.settle(acquisition.lease, 0, 0).catch(this.events.onSettleFailed);
        throw clientClosed;
      }
      this.apply(request, reply, acquisition, asked, sized);
    });
  }

  /**
   * The tokens a request is charged when the provider has it but its usage never comes (see request
   * accounting): what admission reserved, or for a request nothing limits, which reserved nothing,
   * the same estimate made now. Undefined for a request admission never saw.
   */
  estimate(request: FastifyRequest, provider?: string, model?: string): Usage | undefined {
    const { estimate, estimateAt, lease } = request.kw;
    if (estimateAt && provider !== undefined && model !== undefined) {
      const own = estimateAt(provider, model);
      return estimate?.webSearches ? { ...own, webSearches: estimate.webSearches } : own;
    }
    if (estimate || !(lease instanceof Unheld)) return estimate;
    const made = tokenEstimate(request, lease.body, lease.shape);
    if (lease.webSearches > 0) made.webSearches = lease.webSearches;
    request.kw.estimate = made;
    return made;
  }

  /** What the request takes: the rules, and estimates of its tokens and cost. */
  private acquisitionFor(
    request: FastifyRequest,
    leaseMs: number,
    body: Record<string, unknown>,
    shape: RequestShape,
    rules: Rules,
    serving: readonly ServingTarget[],
    /** Filled in with what a budget's refusal names; given when `rules` hold a budget. */
    sized: Sized | undefined,
  ): AcquireRequest {
    const bytes = inputBytes(request, body, shape);
    let estimate = tokenEstimate(request, body, shape, bytes);
    const tokens = estimate.inputTokens + estimate.outputTokens;
    let cost = 0;
    if (rules.budgets.length > 0) {
      const window = this.config.conversations.contextTokens;
      // Input named by URL or file id costs what the provider reads (a PDF, an hour of video), not
      // the body's bytes, and so does a PDF, audio or video carried inline (counted by pages and
      // seconds: a 7 KB PDF of 100 pages is 200,000 tokens): reserved at the context window, the
      // most input a request may be, or many such requests at once would overrun the budget. An
      // image inline counts per image, at most `imagesTokens` whatever its bytes: its data is
      // weighed by that instead of as text. Input sent that the body does not carry (a stored
      // history replayed) is weighed the same. Settlement charges the usage the provider reports,
      // and this when none comes (the provider read the input).
      const media = mediaWeight(shape.addedInput ? [body, ...shape.addedInput] : [body]);
      const images = media.imageData.length;
      if (sized) sized.media = media.unbounded || images > 0;
      const text = Math.max(0, bytes - media.imageBytes);
      // A budget is a ceiling: its text is reserved at a token a byte, as dense as any tokenizer
      // counts (combining marks or random characters come close), up to the context window, and
      // never below the rate limits' four bytes a token. Reserved at that, a burst of such text
      // was admitted at a quarter of its cost. An embeddings batch is many inputs, each up to the
      // model's window (OpenAI takes 300,000 tokens a request): the window caps nothing there.
      const textTokens = EMBEDDING_BATCH_ROUTES.has(request.kw.route)
        ? bytes
        : Math.min(text, Math.max(window, Math.ceil(text / BYTES_PER_TOKEN)));
      const inputAt = (imageTokens: number): number =>
        media.unbounded
          ? Math.max(window, textTokens)
          : images === 0
            ? textTokens
            : Math.max(textTokens, Math.min(textTokens + imageTokens, window));
      // A budget holds what the request may cost. One that names no output limit is sent without
      // one and may run to the model's own: priced at the gateway's ceiling for its route, not at
      // the 1,024 tokens the rate limits take for it, or many at once would overrun the budget.
      // It is also what an answer whose usage never comes (a stream cut before its last event)
      // is charged: charged 1,024, a client could read nearly all of a long answer and leave.
      const asked = firstNumber(body, shape.maxTokensFields) ?? request.kw.defaultOutput;
      const outputTokens =
        asked === undefined && !NO_OUTPUT_ROUTES.has(request.kw.route)
          ? this.outputCeiling(request.kw.route) * choicesOf(body, shape)
          : estimate.outputTokens;
      // At the dearest target that may serve it: a client that makes the first target refuse (a
      // field only a fallback accepts) would otherwise be served by a dearer one at the first's
      // price. Each counts images its own way; the estimate kept is the dearest's. Input that may
      // be audio (audio or video inline, media of no named type, content named by URL or id) may
      // all be: priced at the dearer of the model's text and audio rates, or requests at once
      // would overrun the budget at the audio rate, which Gemini's Flash models bill at three to
      // seven times text. An answer that may be spoken (`maySpeak`) is priced at the dearer of
      // the text and audio output rates for its whole output, the same way.
      const spoken = outputTokens > 0 && maySpeak(body);
      let dearest: Usage | undefined;
      for (const candidate of serving) {
        const type = candidate.provider.config.type;
        const inputTokens = inputAt(imagesTokens(media, type, candidate.model));
        const text: Usage = { inputTokens, outputTokens };
        const heard = media.audio ? [text, { ...text, audioTokens: inputTokens }] : [text];
        const said = spoken
          ? [...heard, ...heard.map((usage) => ({ ...usage, audioOutputTokens: outputTokens }))]
          : heard;
        for (const reserved of said) {
          const allowed = candidate.webSearches;
          const billed = allowed ? { ...reserved, webSearches: allowed } : reserved;
          const priced = this.prices.costMicros(
            candidate.provider.id,
            candidate.model,
            billed,
            candidate.fast,
          );
          if (dearest === undefined || priced > cost) {
            cost = priced;
            dearest = reserved;
            if (sized) sized.target = candidate;
          }
        }
      }
      estimate = dearest ?? { inputTokens: inputAt(Number.POSITIVE_INFINITY), outputTokens };
      if (images > 0 && !media.unbounded) {
        const types = new Map(serving.map(({ provider }) => [provider.id, provider.config.type]));
        request.kw.estimateAt = (provider, model) => ({
          inputTokens: inputAt(imagesTokens(media, types.get(provider), model)),
          outputTokens,
          ...(spoken && { audioOutputTokens: outputTokens }),
        });
      }
    }
    const searches = searchesAllowed(serving);
    if (searches > 0) estimate.webSearches = searches;
    request.kw.estimate = estimate;
    // Named fields rather than a spread of `rules`: with the spread, requests cost about a tenth more
    // CPU (docs/decisions.md, "Benchmark").
    return {
      rates: rules.rates,
      concurrency: rules.concurrency,
      budgets: rules.budgets,
      tokenEstimate: tokens,
      costEstimateMicros: cost,
      leaseMs,
    };
  }

  /** The most output tokens a request on `route` may ask for (`ceilings`). */
  private outputCeiling(route: string): number {
    const { ceilings } = this.config;
    return ceilings.routes[route as keyof Config['ceilings']['routes']]?.maxTokens ?? ceilings.maxTokens;
  }

  private apply(
    request: FastifyRequest,
    reply: FastifyReply,
    acquisition: Acquisition,
    asked: AcquireRequest,
    sized: Sized | undefined,
  ): void {
    quotaHeaders(reply, 'requests', acquisition.requests);
    quotaHeaders(reply, 'tokens', acquisition.tokens);
    if (!acquisition.allowed) {
      // Not a budget its requests in flight hold reserved (that frees as they settle), nor one a
      // request is larger than whole: an alert for either would say "exhausted" of a budget far
      // from spent, and mute the real one for an hour.
      const { denial } = acquisition;
      if (denial.kind === 'budget' && denial.spent && !denial.oversized)
        this.events.onBudgetExhausted(denial.key.split(':').slice(1, 3).join(':'));
      const sizing =
        denial.kind === 'budget' && sized ? this.sizing(request, denial.key, asked, sized) : undefined;
      throw denialError(denial, tokenIdOf(request.kw.principal), sizing);
    }
    request.kw.lease = acquisition.lease;
  }

  /**
   * What a budget refusing the request names of it: the input it reserved, and whether that alone,
   * priced at the target its estimate was priced dearest at, is more than the budget `key`.
   */
  private sizing(request: FastifyRequest, key: string, asked: AcquireRequest, sized: Sized): BudgetSizing {
    const { estimate } = request.kw;
    const inputTokens = estimate?.inputTokens ?? 0;
    const limit = asked.budgets.find((budget) => budget.key === key)?.limitMicros ?? Number.POSITIVE_INFINITY;
    const { target } = sized;
    const input: Usage = { inputTokens, outputTokens: 0 };
    if (estimate?.audioTokens) input.audioTokens = estimate.audioTokens;
    const inputMicros = target
      ? this.prices.costMicros(target.provider.id, target.model, input, target.fast)
      : 0;
    return {
      inputTokens,
      inputOver: inputMicros > limit,
      media: sized.media,
      outputField: outputFieldOf(sized.body, sized.shape),
    };
  }

  private rules(principal: Principal | undefined): Rules | undefined {
    if (!principal) return undefined;
    const identity = principal.kind === 'token' ? principal.record : principal;
    const now = Date.now();
    let entry = this.cached.get(identity);
    if (!entry || !inUtcDay(entry.until, now)) {
      entry = { rules: rulesFor(principal, this.config, now), until: utcDayEnd(now) };
      this.cached.set(identity, entry);
    }
    return isEmpty(entry.rules) ? undefined : entry.rules;
  }

  /** Called once the response is over, with what the provider reported (nothing when no call was made). */
  settle(request: FastifyRequest, usage: Usage | undefined, costMicros: number): void {
    const { lease } = request.kw;
    if (!lease || lease instanceof Unheld) return;
    const tokens = usage ? usage.inputTokens + usage.outputTokens : 0;
    this.limiter.settle(lease, tokens, costMicros).catch(this.events.onSettleFailed);
  }

  /** `GET /v1/rate-limit-status`: the caller's limits and what is left, taking nothing. */
  async status(request: FastifyRequest) {
    const rules = rulesFor(request.kw.principal, this.config, Date.now());
    const tokenId = tokenIdOf(request.kw.principal);
    const status = await this.limiter
      .status(rules.rates, rules.concurrency, rules.budgets)
      .catch((error: unknown) => {
        if (!(error instanceof StatusUnavailableError)) throw error;
        throw denialError({ kind: 'unavailable', key: 'backend', retryAfterMs: error.retryAfterMs }, tokenId);
      });
    return {
      rates: status.rates.map((r) => ({
        name: r.key.split(':')[0],
        subject: subjectOf(r.key, tokenId),
        limit: r.limit,
        remaining: Math.max(0, Math.floor(r.remaining)),
        resetSeconds: seconds(r.resetMs),
      })),
      concurrency: status.concurrency.map((c) => ({
        subject: subjectOf(c.key, tokenId),
        limit: c.limit,
        inUse: c.inUse,
      })),
      budgets: status.budgets.map((b) => ({
        subject: subjectOf(b.key, tokenId),
        period: b.key.split(':').at(-1),
        limitUsd: b.limitMicros / 1e6,
        spentUsd: b.spentMicros / 1e6,
        reservedUsd: b.reservedMicros / 1e6,
      })),
    };
  }
}
