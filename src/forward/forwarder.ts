import type { FastifyReply, FastifyRequest } from 'fastify';
import { allowedTargets } from '../auth/access.js';
import { clientClosed, GatewayError } from '../errors/gateway-error.js';
import type { RequestContext } from '../http/context.js';
import type { SecretString } from '../keys/index.js';
import type { Admission, ServingTarget } from '../limits/admission.js';
import type { Ceilings, FilledOutput } from '../limits/ceilings.js';
import { type Logger, type Metrics, maskSecret } from '../observability/index.js';
import {
  type ChatRequest,
  type EmbeddingsList,
  estimateInputTokens,
  UnsupportedFeature,
  type UpstreamCall,
} from '../providers/index.js';
import {
  applyRouteParams,
  fillsTemperature,
  type Route,
  type Router,
  type Target,
} from '../routing/index.js';
import {
  AbortHandle,
  type AnswerAccount,
  type AnswerMemory,
  classifyUpstreamError,
  exchange,
  JointAnswer,
  onwardVia,
  processAnswers,
  readCapped,
  UpstreamError,
  type UpstreamResponse,
  VIA_HEADER,
} from '../upstream/index.js';
import { defaultOutput } from './default-output.js';
import { addUsage, type EmbeddingPart, embeddingParts, joinEmbeddings } from './embedding-parts.js';
import { type Failure, type ForwardJob, type InFlight, isNative, takesOptions } from './forward-job.js';
import { KeyLease, KeysUnavailable, passthroughKeyMissing, passthroughKeyRejected } from './key-lease.js';
import type { ProviderRuntime } from './provider-runtime.js';
import { Responder } from './responder.js';
import { unknownModel } from './unknown-model.js';
import { fallbackWorthy, isSuccess, mapUpstreamFailure, mapUpstreamStatus } from './upstream-errors.js';

type Caller = (key: SecretString | undefined) => UpstreamCall;

/** `key`: the one the answer came with, which an error event in its stream may echo back. */
type Attempt = { response: UpstreamResponse; key: SecretString | undefined } | Failure;

/** Error bodies are read for the debug log only. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Admission reserved the first target's output fill only; a fallback whose provider fills in
 * more may bill more for a stream cut short, so its floor is raised before it is sent.
 */
function raiseOutputFloor(ctx: RequestContext, flight: InFlight, provider: ProviderRuntime): void {
  const estimate = ctx.estimate;
  if (!estimate) return;
  const filled = defaultOutput(flight.job, flight.body, provider, flight.canonical, flight.outputCeiling);
  if (!filled) return;
  flight.canonical = filled.canonical;
  if (filled.tokens > estimate.outputTokens) ctx.estimate = { ...estimate, outputTokens: filled.tokens };
}

/**
 * A refusal's message, saying where an output limit it names came from when the client sent none
 * (an alias's default, a token's cap): `param`, its client's name for the field, was never sent.
 */
function filledCause(error: UnsupportedFeature, param: string, filled: FilledOutput | undefined): string {
  if (error.param !== 'max_tokens' || !filled) return error.message;
  return `${error.message}; this request names no output limit and was given ${filled.limit} tokens, ${filled.owner}: name one in ${param}`;
}

/** A request the target cannot carry as asked: the client's to fix, in its own words. */
function unsupported(error: UnsupportedFeature): GatewayError {
  return new GatewayError(400, 'invalid_request_error', error.message, {
    code: 'unsupported_for_provider',
    param: error.param ?? null,
  });
}

/** The first target's refusal, naming what each of the route's other targets refused. */
function refusedEverywhere(first: GatewayError, others: readonly string[]): GatewayError {
  return new GatewayError(
    first.status,
    first.type,
    `${first.message.replace(/\.$/, '')}. The route's other targets cannot carry the request either: ${others.join('; ')}`,
    { code: first.code, param: first.param, headers: first.headers },
  );
}

/**
 * The route's targets with what each is billed beyond tokens: the body's billed options (fast
 * processing, the provider's web search) reach only targets of the format they are sent to.
 */
function billedExtras(
  job: ForwardJob,
  targets: readonly Target<ProviderRuntime>[],
  fast: boolean,
  searches: number | undefined,
): ServingTarget[] {
  return targets.map(({ provider, model }) => {
    const billed = takesOptions(job, provider.adapter);
    return { provider, model, fast: fast && billed, webSearches: billed ? searches : undefined };
  });
}

/**
 * The forwarding path: route → key → adapter → upstream (retries) → relay or translation, with
 * fallback to the next target of the route on failures before the first byte reached the client.
 * A surface and provider of the same format exchange the validated body untouched; any other
 * pair goes through the canonical form.
 */
export class Forwarder {
  private readonly responder: Responder;

  constructor(
    private readonly router: Router<ProviderRuntime>,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly admission: Admission,
    private readonly ceilings: Ceilings,
    /** The account of whole answers held at once; the process's when absent. */
    private readonly answers?: AnswerMemory,
  ) {
    this.responder = new Responder(metrics, logger);
  }

  /**
   * The route a request for `model` takes, checked as `handle` checks it: an unknown model or one
   * the credential may not use is refused here. A surface that does work of its own first (reading
   * a stored history) asks before it, so that such a request costs no more than a lookup.
   */
  route(request: FastifyRequest, model: string): Route<ProviderRuntime> {
    const resolved = this.router.resolve(model);
    if (!resolved) throw unknownModel(model, this.router, request.kw.principal);
    return allowedTargets(request.kw.principal, resolved);
  }

  /** See `RequestForwarder.refuseIfSpent`. */
  refuseIfSpent(request: FastifyRequest): Promise<void> {
    return this.admission.refuseIfSpent(request);
  }

  async handle(request: FastifyRequest, reply: FastifyReply, job: ForwardJob): Promise<FastifyReply> {
    try {
      return await this.forward(request, reply, job);
    } catch (error) {
      // A failed turn frees its conversation before its error is answered (see `beforeEnd`); a
      // stream under way (the reply hijacked) ends through its encoder instead. A turn its store
      // did not take failed there (the responder's `beforeEnd`), and `error` is that failure.
      if (!reply.sent) await job.surface.beforeEnd?.()?.catch(() => undefined);
      throw error;
    }
  }

  private async forward(
    request: FastifyRequest,
    reply: FastifyReply,
    job: ForwardJob,
  ): Promise<FastifyReply> {
    const ctx = request.kw;
    const route = this.route(request, job.body.model);
    ctx.model = route.name;
    let body = job.body;
    let outputCeiling: number | undefined;
    let filledOutput: FilledOutput | undefined;
    if (job.operation === 'chat') {
      const limited = this.ceilings.apply(
        applyRouteParams(job.body, route.params, job.surface.temperatureField),
        { maxTokens: job.surface.maxTokensFields, n: job.surface.choicesFields ?? [] },
        {
          principal: ctx.principal,
          route: ctx.route,
          params: route.params,
          alias: route.name,
        },
      );
      body = limited.body;
      outputCeiling = limited.generatedCeiling;
      filledOutput = limited.filled;
      if (limited.clamped.length > 0) reply.header('x-keyward-clamped', limited.clamped.join(', '));
    }

    const first = route.targets[0]!;
    const filled = defaultOutput(job, body, first.provider, undefined, outputCeiling);
    ctx.defaultOutput = filled?.tokens;
    const totalMs = route.timeoutMs ?? first.provider.config.timeouts.totalMs;
    const chat = job.operation === 'chat';
    const fast = chat && job.surface.asksFast?.(body) === true;
    const searches = chat ? job.surface.webSearchesAllowed?.(body) : undefined;
    const admitted = this.admission.admit(
      request,
      reply,
      // A lease outlives the longest this request may take, so a crash frees it, and nothing else does.
      totalMs + 60_000,
      body,
      job.surface,
      fast || searches ? billedExtras(job, route.targets, fast, searches) : route.targets,
    );
    if (admitted) await admitted;
    if (reply.raw.destroyed) {
      // The client left while its request was on the gateway's side (a stored history read, a
      // conversation held): its response has closed, and with it the one moment a request is
      // settled and charged. Sent now, the provider would bill what no limit or budget sees.
      this.admission.settle(request, undefined, 0);
      throw clientClosed;
    }
    const abort = new AbortHandle();
    const timer = setTimeout(
      () => abort.abort(new UpstreamError('timeout', 'total deadline passed')),
      totalMs,
    );
    // 'close' fires both after a finished response and when the client goes away mid-way; only
    // the second must abort the upstream exchange.
    reply.raw.once('close', () => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished) abort.abort(new UpstreamError('aborted', 'client disconnected'));
    });
    const flight: InFlight = {
      job,
      body,
      temperatureIsDefault:
        job.operation === 'chat' && fillsTemperature(job.body, route.params, job.surface.temperatureField),
      canonical: filled?.canonical,
      outputCeiling,
      filledOutput,
      fast,
      abort,
      deadline: Date.now() + totalMs,
    };
    const estimate = this.localCount(flight, first);
    if (estimate !== undefined) return reply.send(estimate);

    let failure: GatewayError | undefined;
    // What the first target cannot carry is the client's to fix: that answer outlasts the
    // fallbacks' failures (a fallback may still serve the request).
    let refused = false;
    /** The fallbacks' refusals while every target so far refused: named if all of them do. */
    const alsoRefused: string[] = [];
    for (const [i, target] of route.targets.entries()) {
      ctx.provider = target.provider.id;
      if (i > 0) raiseOutputFloor(ctx, flight, target.provider);
      const parts = this.embeddingParts(flight, target);
      let attempt: Attempt;
      if (parts) {
        const failed = await this.embedInParts(request, reply, target, flight, parts);
        if (!failed) return reply;
        attempt = failed;
      } else {
        try {
          attempt = await this.attempt(request, target, flight, this.caller(flight, target));
        } catch (error) {
          if (!(error instanceof UnsupportedFeature)) throw error;
          attempt = { error: unsupported(error), fallback: true, unsupported: true };
        }
      }
      let outcome: Failure;
      if ('response' in attempt) {
        const failed = await this.responder.respond(
          request,
          reply,
          target.provider,
          flight,
          attempt.response,
          attempt.key,
        );
        // Fastify wants the reply back from an async handler that sent a stream.
        if (!failed) return reply;
        outcome = failed;
      } else outcome = attempt;
      if (outcome.unsupported) {
        // A fallback that cannot carry the request is skipped; the earlier failure stands.
        if (i === 0) [failure, refused] = [outcome.error, true];
        else if (refused && alsoRefused.length === i - 1)
          alsoRefused.push(`provider '${target.provider.id}': ${outcome.error.message}`);
        continue;
      }
      if (!refused) failure = outcome.error;
      if (!outcome.fallback || abort.aborted) break;
    }
    // No target could carry it: the first one's refusal alone would point the client at a route
    // whose other targets refuse it too.
    if (failure && alsoRefused.length > 0 && alsoRefused.length === route.targets.length - 1)
      throw refusedEverywhere(failure, alsoRefused);
    throw failure ?? new GatewayError(503, 'service_unavailable', 'No provider is available for this model');
  }

  /**
   * An embeddings request with more inputs than one call to the target takes, as the parts it is
   * sent in (see `embedInParts`); undefined for any other request.
   */
  private embeddingParts(flight: InFlight, target: Target<ProviderRuntime>): EmbeddingPart[] | undefined {
    const { adapter } = target.provider;
    if (flight.job.operation !== 'embeddings' || !adapter.embeddingsAnswer || !adapter.maxEmbeddingInputs)
      return;
    return embeddingParts(flight.body, adapter.maxEmbeddingInputs);
  }

  /**
   * Sends an embeddings request to a target in parts, one after another, and answers the client
   * with their answers joined: undefined once that answer is on its way. Each part is an exchange
   * of its own (its key, retries and key rotations), so a retried part resends itself alone. One
   * at a time, so that a part's failure sends no more parts for the provider to bill, the
   * provider's per-minute quotas meet one call at a time, and the request's record of an attempt
   * out and unanswered (`upstreamSent`) is one attempt's; the request's deadline and its client
   * leaving end every part. A failure ends the request with its error: the client never gets a
   * partial list. Before any part was answered it may go to the route's next target as any failure
   * may; after, it does not: another model's vectors cannot be joined with this one's, and sending
   * the whole input again there would bill the client's answered parts twice, past the reservation.
   * Each answered part is charged as it comes, whatever happens to the rest; an attempt at a part
   * that gets no answer is charged the part's share of the reservation (`RequestContext.share`),
   * so that one such attempt at every part costs what one at the whole request does. The parts'
   * answers are held until the client's response is over, and count until then in the account of
   * whole answers as one answer (`JointAnswer`).
   */
  private async embedInParts(
    request: FastifyRequest,
    reply: FastifyReply,
    target: Target<ProviderRuntime>,
    flight: InFlight,
    parts: EmbeddingPart[],
  ): Promise<Failure | undefined> {
    const ctx = request.kw;
    const answers: EmbeddingsList[] = [];
    const final = (failure: Failure): Failure =>
      answers.length === 0 ? failure : { error: failure.error, fallback: false };
    const held = new JointAnswer(this.answers ?? processAnswers);
    const release = () => held.release();
    if (reply.raw.destroyed) release();
    else reply.raw.once('close', release);
    try {
      for (const { body, share } of parts) {
        ctx.share = share;
        let attempt: Attempt;
        try {
          const caller = this.caller({ ...flight, body }, target);
          attempt = await this.attempt(request, target, flight, caller, held);
        } catch (error) {
          if (!(error instanceof UnsupportedFeature)) throw error;
          return final({ error: unsupported(error), fallback: true, unsupported: true });
        }
        if (!('response' in attempt)) return final(attempt);
        // An answer that cannot be read fails the request, as a whole answer's does; a compressed
        // one is a failure like the attempt's own.
        const part = await this.responder.embeddingsPart(
          request,
          target.provider,
          flight,
          body,
          attempt.response,
        );
        if ('error' in part) return final(part);
        answers.push(part.answer);
        ctx.usage = addUsage(ctx.usage, part.usage);
      }
    } finally {
      // The route's next target is sent the whole request.
      ctx.share = undefined;
    }
    const sizes = parts.map(({ body }) => (body.input as unknown[]).length);
    this.responder.sendEmbeddings(request, reply, target.provider, flight, joinEmbeddings(answers, sizes));
    return undefined;
  }

  /**
   * How to build this target's upstream call with a key: the body as is when the provider speaks
   * the surface's format, else through the canonical form. Throws UnsupportedFeature.
   */
  private caller(flight: InFlight, target: Target<ProviderRuntime>): Caller {
    const { job, body } = flight;
    const { adapter } = target.provider;
    if (isNative(job, adapter)) {
      const options = flight.temperatureIsDefault
        ? { ...job.options, temperatureIsDefault: true }
        : job.options;
      return (key) => adapter.buildCall(job.operation, target.model, body, key, options);
    }
    flight.canonical ??= job.surface.toCanonical(body);
    const canonical: ChatRequest = {
      ...flight.canonical,
      model: target.model,
      ...(flight.temperatureIsDefault && { temperatureIsDefault: true }),
    };
    const build = (key: SecretString | undefined): UpstreamCall => {
      if (job.operation !== 'count_tokens') return adapter.buildChatCall(canonical, key, job.options);
      if (!adapter.buildCountTokensCall)
        throw new UnsupportedFeature('This provider cannot count tokens', 'model');
      return adapter.buildCountTokensCall(canonical, key, job.options);
    };
    return (key) => {
      try {
        return build(key);
      } catch (error) {
        // The provider's codec names canonical fields; the client knows its own.
        if (!(error instanceof UnsupportedFeature) || !error.param || !job.surface.clientParam) throw error;
        const param = job.surface.clientParam(error.param, canonical, body);
        throw new UnsupportedFeature(filledCause(error, param, flight.filledOutput), param);
      }
    };
  }

  /**
   * A token count for a target whose provider has no counting endpoint: estimated here (the
   * answer is free either way, and a client such as Claude Code only budgets its context by it).
   */
  private localCount(flight: InFlight, target: Target<ProviderRuntime>): unknown {
    const { job } = flight;
    const { adapter } = target.provider;
    if (job.operation !== 'count_tokens' || isNative(job, adapter) || adapter.buildCountTokensCall) return;
    try {
      flight.canonical ??= job.surface.toCanonical(flight.body);
    } catch (error) {
      if (error instanceof UnsupportedFeature) throw unsupported(error);
      throw error;
    }
    return job.surface.tokenCountBody?.(estimateInputTokens(flight.canonical));
  }

  private async attempt(
    request: FastifyRequest,
    target: Target<ProviderRuntime>,
    flight: InFlight,
    build: Caller,
    /** Where an answer read whole counts (`JointAnswer` for a part); the gateway's account by default. */
    answers: AnswerAccount | undefined = this.answers,
  ): Promise<Attempt> {
    const { provider, model } = target;
    const { abort: signal, deadline } = flight;
    request.kw.upstreamModel = model;
    request.kw.fast = flight.fast && takesOptions(flight.job, provider.adapter);
    const passthroughKey = provider.keys.passthrough ? request.kw.providerKey : undefined;
    if (provider.keys.passthrough && !passthroughKey && provider.adapter.requiresKey) {
      return { error: passthroughKeyMissing, fallback: false };
    }
    const counting = flight.job.operation === 'count_tokens';
    const lease = new KeyLease(provider, model, passthroughKey, this.metrics, counting);
    let response: UpstreamResponse | undefined;
    // The key of the last attempt, whose answer is the one mapped: a provider may echo it back.
    let sentKey: SecretString | undefined;
    // When every key is cooling and the first recovers sooner than a retry would wait anyway,
    // wait for it once instead of answering 429 (unless the provider is held to one attempt).
    for (let round = 0; !response; round++) {
      try {
        response = await exchange({
          dispatcher: provider.dispatcher,
          build: () => {
            sentKey = lease.next();
            return lease.sending(build(sentKey));
          },
          judge: (status, headers, body) => lease.judge(status, headers, body),
          maxRotations: lease.maxRotations,
          retry: provider.config.retries,
          signal,
          deadline,
          // Counting tokens is free at every provider: nothing to charge when its answer never comes.
          progress: counting ? undefined : request.kw,
          // The gateways the client's request passed through (checked on arrival), then this one. A
          // request that came through none is named by the provider pool, without a copy of its headers.
          ...(request.headers[VIA_HEADER] !== undefined && { via: onwardVia(request.headers[VIA_HEADER]) }),
          ...(answers && { answers }),
          hooks: {
            onAttempt: (status, seconds) => this.metrics.upstreamResponded(provider.id, status, seconds),
            onRetry: (reason) => this.metrics.upstreamRetried(provider.id, reason),
            onRotated: async (status, body) =>
              this.logProviderError(request, provider.id, status, await readCapped(body, MAX_ERROR_BODY)),
          },
        });
      } catch (error) {
        if (error instanceof KeysUnavailable) {
          const wait = error.reason.exhausted === 'cooling' ? error.reason.retryAfterMs : undefined;
          if (
            round === 0 &&
            provider.config.retries.maxAttempts > 1 &&
            wait !== undefined &&
            wait <= provider.config.retries.maxDelayMs &&
            Date.now() + wait < deadline
          ) {
            try {
              // A timer may fire a millisecond before Date.now() has moved as far: wait a little longer.
              await signal.wait(wait + 5);
            } catch (aborted) {
              return { error: mapUpstreamFailure(classifyUpstreamError(aborted, signal)), fallback: false };
            }
            continue;
          }
          return { error: error.toGatewayError(), fallback: true };
        }
        if (!(error instanceof UpstreamError)) throw error;
        this.logger.debug(
          { reqId: request.id, provider: provider.id, failure: error.failure },
          error.message,
        );
        return { error: mapUpstreamFailure(error), fallback: error.retryable || error.failure === 'connect' };
      }
    }
    request.kw.attempts = (request.kw.attempts ?? 0) + response.attempts;
    if (isSuccess(response.statusCode)) return { response, key: sentKey };
    const text = await readCapped(response.body, MAX_ERROR_BODY);
    this.logProviderError(request, provider.id, response.statusCode, text);
    if (passthroughKey && (response.statusCode === 401 || response.statusCode === 403)) {
      return { error: passthroughKeyRejected, fallback: false };
    }
    const refusal = await lease.refusal(response.statusCode, text, request.kw.model ?? model);
    if (refusal) return { error: refusal, fallback: true };
    return {
      error: mapUpstreamStatus(
        response.statusCode,
        response.headers,
        text,
        [sentKey, request.kw.providerKey],
        !isNative(flight.job, provider.adapter),
      ),
      fallback: fallbackWorthy(response.statusCode),
    };
  }

  /** The provider's own words stay in the (redacted) debug log; the client gets our mapping. */
  private logProviderError(request: FastifyRequest, provider: string, status: number, text: string): void {
    // The redactor knows every stored key, but not a client's own: mask it here, in every form.
    const own = request.kw.providerKey;
    const body = own ? maskSecret(text, own.reveal()) : text;
    this.logger.debug(
      { reqId: request.id, provider, upstreamStatus: status, upstreamBody: body },
      'provider returned an error',
    );
  }
}
