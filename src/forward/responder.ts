import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import { providerFailedMidStream, streamInterrupted } from '../errors/stream.js';
import { cutUnlessTaken } from '../http/stall-cut.js';
import { writeEventStream } from '../http/stream-writer.js';
import type { SecretString } from '../keys/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import { type ChatUsage, type EmbeddingsList, StreamFailure, type Usage } from '../providers/index.js';
import type { StreamFailureReason } from '../surfaces/types.js';
import {
  AnswerTooLarge,
  chargeUnanswered,
  classifyUpstreamError,
  type UpstreamResponse,
} from '../upstream/index.js';
import { type Failure, type InFlight, isNative } from './forward-job.js';
import type { ProviderRuntime } from './provider-runtime.js';
import { translateStream } from './translate-stream.js';
import {
  answerTooLarge,
  fallbackWorthy,
  mapStreamFailure,
  mapUpstreamFailure,
  mapUpstreamStatus,
} from './upstream-errors.js';

/**
 * Answers the client from a provider's successful response: passed through when surface and
 * provider share a format, translated otherwise; JSON or a stream.
 */
export class Responder {
  constructor(
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /**
   * Sends the provider's answer in the surface's format: undefined once it is on its way. A stream
   * is held until its first event: one that fails before anything reached the client returns a
   * failure, so the next target can still be tried. The reply itself is not returned: it is a
   * thenable, which an async function's caller would await to `undefined`.
   */
  async respond(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: ProviderRuntime,
    flight: InFlight,
    response: UpstreamResponse,
    sentKey: SecretString | undefined,
  ): Promise<Failure | undefined> {
    const { adapter, id } = provider;
    const { job } = flight;
    const ctx = request.kw;
    const native = isNative(job, adapter);
    const counting = job.operation === 'count_tokens';
    const compressed = this.compressed(request, id, response);
    if (compressed) {
      // No request makes a provider compress, so the route's next target may serve this one,
      // streamed or not; the key is left in rotation, as for any answer the provider got wrong.
      // The provider billed the request: charged as an attempt that got no answer, as a stream
      // that broke before it began.
      if (!counting) chargeUnanswered(ctx);
      return { error: compressed, fallback: true };
    }
    // Counting tokens is free at every provider: nothing to charge when its answer goes astray.
    ctx.upstreamAnswered = !counting;

    if (job.stream) {
      let early: GatewayError | undefined;
      /** Whether an early failure is worth the route's next target. */
      let fallback = true;
      /** The provider answered past the size bound: charged as answered, and no fallback. */
      let tooLarge: AnswerTooLarge | undefined;
      let started = false;
      const onFailure = (reason: StreamFailureReason, error?: unknown) => {
        if (!started && error instanceof AnswerTooLarge) tooLarge = error;
        else if (!started) {
          early = earlyStreamError(reason, error, [sentKey, ctx.providerKey], !native);
          if (error instanceof StreamFailure) fallback = earlyFallback(provider, error);
        }
        ctx.streamError = reason;
        this.metrics.streamFailed(id, reason);
        if (error !== undefined && !(error instanceof StreamFailure)) {
          this.logger.debug({ reqId: request.id, provider: id, err: error }, 'stream translation failed');
        }
      };
      const clientGone = () => reply.raw.destroyed;
      const events = native
        ? job.surface.relay(response.body, {
            providerType: adapter.type,
            readUsage: adapter.readUsage,
            hideUsageChunk: !job.includeUsage,
            onUsage: (usage) => {
              ctx.usage = usage;
            },
            onFailure,
            failureError: mapStreamFailure,
            clientGone,
          })
        : translateStream(
            response.body,
            adapter.chat.streamDecoder(ctx.upstreamModel),
            job.surface.streamEncoder({ includeUsage: job.includeUsage }),
            job.surface,
            { onUsage: (usage) => (ctx.usage = usageOf(usage)), onFailure, clientGone },
          );
      const head = await events.next();
      if (tooLarge) {
        // As a whole answer past the bound: the provider answered, and bills what it sent.
        await events.return(undefined);
        ctx.streamError = undefined;
        throw answerTooLarge(tooLarge.limit);
      }
      if (early) {
        // Nothing reached the client: the next target's answer is what this request's record tells.
        // A relayed stream reported its start's usage (Anthropic's `message_start`) as it came:
        // left, it was charged beside this attempt's reservation, or as a later target's usage.
        ctx.usage = undefined;
        ctx.streamError = undefined;
        ctx.upstreamAnswered = false;
        // The provider took the request and may bill what it did before failing (read the input,
        // reasoned until a timeout cut it): charged like an attempt that got no answer.
        chargeUnanswered(ctx);
        await events.return(undefined);
        response.body.destroy();
        return { error: early, fallback };
      }
      started = true;
      ctx.streamed = true;
      const stallMs = provider.config.timeouts.idleMs;
      writeEventStream(reply, head.done ? undefined : head.value, events, stallMs);
      return undefined;
    }

    // Read whole, the answer counts in the process's account until the client's response is over:
    // its text, its parsed form and the bytes waiting in the client's socket live until then.
    // However the response ends (sent, refused, its client gone), it closes.
    const settle = () => response.body.settle();
    if (reply.raw.destroyed) settle();
    else reply.raw.once('close', settle);
    const text = await readWhole(response, flight);
    if (text.length > TAKEN_AT_ONCE) cutUntaken(reply, provider.config.timeouts.idleMs);
    let payload: unknown;
    try {
      payload = JSON.parse(text);
      if (job.operation === 'embeddings' && (adapter.embeddingsAnswer || job.surface.embeddingsAnswer)) {
        const { answer, usage } = adapter.embeddingsAnswer
          ? adapter.embeddingsAnswer(payload, flight.body, ctx.upstreamModel ?? '')
          : { answer: payload, usage: adapter.readUsage(payload) };
        if (usage) ctx.usage = usage;
        reply.code(200).send(job.surface.embeddingsAnswer ? job.surface.embeddingsAnswer(answer) : answer);
        return undefined;
      }
      if (native) {
        const usage = adapter.readUsage(payload);
        if (usage) ctx.usage = usage;
        const answer = job.surface.nativeAnswer?.(payload, adapter.type) ?? text;
        reply.code(response.statusCode).header('content-type', 'application/json').send(answer);
        return undefined;
      }
      if (job.operation === 'count_tokens') {
        const count = adapter.readTokenCount?.(payload);
        if (count === undefined) throw new Error('no token count in the answer');
        reply.code(200).send(job.surface.tokenCountBody?.(count));
        return undefined;
      }
      const answer = adapter.chat.decodeResponse(payload, ctx.upstreamModel);
      ctx.usage = usageOf(answer.usage);
      const encoded = job.surface.fromCanonical(answer);
      await job.surface.beforeEnd?.();
      reply.code(200).send(encoded);
      return undefined;
    } catch (error) {
      // A surface's own verdict on the answer (a template's output schema) stands as it is.
      if (error instanceof GatewayError) throw error;
      throw this.malformed(request, id, error);
    }
  }

  /**
   * One part of an embeddings request sent in parts (`ProviderAdapter.maxEmbeddingInputs`): the
   * provider's answer to `body`, the part, as OpenAI's, or the failure of a compressed answer,
   * which may go to the route's next target as a whole answer's does (`respond`) while no part was
   * answered. The provider bills a part it answered, so one whose answer cannot be read (or is
   * compressed) is charged as an attempt that got none. The part's answer stays in the account
   * of whole answers it was read in (the request's `JointAnswer`) until the client's response is
   * over.
   */
  async embeddingsPart(
    request: FastifyRequest,
    provider: ProviderRuntime,
    flight: InFlight,
    body: Record<string, unknown>,
    response: UpstreamResponse,
  ): Promise<{ answer: EmbeddingsList; usage: Usage } | Failure> {
    const { adapter, id } = provider;
    try {
      const compressed = this.compressed(request, id, response);
      if (compressed) {
        chargeUnanswered(request.kw);
        return { error: compressed, fallback: true };
      }
      // Read, the part is billed but not yet counted: a client leaving now is charged the part's
      // share, as one leaving while it was out (request accounting reads `upstreamSent`).
      request.kw.upstreamSent = true;
      let text: string;
      try {
        text = await readWhole(response, flight);
      } finally {
        request.kw.upstreamSent = false;
      }
      try {
        // Only adapters that read embeddings answer in parts (see `maxEmbeddingInputs`).
        return adapter.embeddingsAnswer!(JSON.parse(text), body, request.kw.upstreamModel ?? '');
      } catch (error) {
        throw this.malformed(request, id, error);
      }
    } catch (error) {
      chargeUnanswered(request.kw);
      throw error;
    }
  }

  /** The answer joined from an embeddings request's parts, in the surface's format. */
  sendEmbeddings(
    request: FastifyRequest,
    reply: FastifyReply,
    provider: ProviderRuntime,
    flight: InFlight,
    answer: EmbeddingsList,
  ): void {
    const { surface } = flight.job;
    let body: unknown;
    try {
      body = surface.embeddingsAnswer ? surface.embeddingsAnswer(answer) : answer;
    } catch (error) {
      throw this.malformed(request, provider.id, error);
    }
    cutUntaken(reply, provider.config.timeouts.idleMs);
    reply.code(200).send(body);
  }

  /**
   * Asked for `identity`, the provider compressed all the same: its bytes would be read as a
   * malformed answer. The error to answer with, its body discarded; undefined for an answer sent
   * uncompressed. The operator is told which coding it was.
   */
  private compressed(
    request: FastifyRequest,
    provider: string,
    response: UpstreamResponse,
  ): GatewayError | undefined {
    const encoding = response.headers['content-encoding'];
    if (encoding === undefined || String(encoding).trim().toLowerCase() === 'identity') return undefined;
    response.body.destroy();
    this.logger.warn(
      { reqId: request.id, provider, contentEncoding: encoding },
      'the provider sent a compressed answer although asked for an uncompressed one; it is not decoded',
    );
    return new GatewayError(502, 'upstream_error', 'The provider returned a compressed response', {
      code: 'provider_bad_response',
    });
  }

  private malformed(request: FastifyRequest, provider: string, error: unknown): GatewayError {
    this.logger.debug({ reqId: request.id, provider, err: error }, 'provider response not understood');
    return new GatewayError(502, 'upstream_error', 'The provider returned a malformed response', {
      code: 'provider_bad_response',
    });
  }
}

/** A successful answer read whole; its failures as the client's errors. */
async function readWhole(response: UpstreamResponse, flight: InFlight): Promise<string> {
  try {
    return await response.body.text();
  } catch (error) {
    if (error instanceof AnswerTooLarge) throw answerTooLarge(error.limit);
    throw mapUpstreamFailure(classifyUpstreamError(error, flight.abort));
  }
}

/** An answer this short is taken by the client's socket buffers at once, whether the client reads or not. */
const TAKEN_AT_ONCE = 64 * 1024;

/**
 * Cuts a client that has not taken its whole answer within `ms` (the provider's idle timeout), as
 * one that stops reading a stream is cut. The answer holds its place in the process's account of
 * whole answers until its response is over, and past that account's bound the answers behind it
 * wait: a client that never read would hold the memory, and them, for as long as it stayed.
 */
function cutUntaken(reply: FastifyReply, ms: number): void {
  reply.raw.once('close', cutUnlessTaken(reply.raw, ms));
}

/**
 * Whether a stream that failed before its first event is worth the route's next target: as an
 * error answer of the status its event named would be. A refusal of the request itself (a 400)
 * would be the next target's too; one that says the key is refused or its account spent (an
 * Anthropic 400 "Your credit balance is too low", a 402) is this target's alone, as the key lease
 * judges the same words outside a stream.
 */
function earlyFallback(provider: ProviderRuntime, failure: StreamFailure): boolean {
  const { status, providerError } = failure;
  if (status === undefined || fallbackWorthy(status)) return true;
  const probe = provider.keyProbe;
  if (!probe) return false;
  const body = JSON.stringify({ error: providerError });
  return probe.saysKeyInvalid(status, body) || probe.saysQuotaSpent?.(body, status) === true;
}

/**
 * A stream that failed before its first event is answered like a failed request: with the
 * provider's status where its error event named one, read with the event's error as that
 * request's body would be (its code, a context overflow's counts; `keys` and `translated` as
 * `mapUpstreamStatus` takes them).
 */
function earlyStreamError(
  reason: StreamFailureReason,
  error: unknown,
  keys: ReadonlyArray<SecretString | undefined>,
  translated: boolean,
): GatewayError {
  if (error instanceof StreamFailure && error.status !== undefined) {
    const body = error.providerError === undefined ? '' : JSON.stringify({ error: error.providerError });
    return mapUpstreamStatus(error.status, {}, body, keys, translated);
  }
  return reason === 'provider_error' ? providerFailedMidStream : streamInterrupted;
}

/** Undefined when the provider reported none: request accounting then charges the reservation. */
function usageOf(usage: ChatUsage): Usage | undefined {
  if (usage.unreported) return undefined;
  return {
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    ...(usage.cachedTokens && { cachedTokens: usage.cachedTokens }),
    ...(usage.audioTokens && { audioTokens: usage.audioTokens }),
    ...(usage.cachedAudioTokens && { cachedAudioTokens: usage.cachedAudioTokens }),
    ...(usage.audioOutputTokens && { audioOutputTokens: usage.audioOutputTokens }),
    ...(usage.cacheCreationTokens && { cacheCreationTokens: usage.cacheCreationTokens }),
    ...(usage.cacheCreation1hTokens && { cacheCreation1hTokens: usage.cacheCreation1hTokens }),
  };
}
