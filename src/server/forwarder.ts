import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KeyEvents } from '../keys/index.js';
import { type Logger, type Metrics, maskSecret } from '../observability/index.js';
import type { Operation } from '../providers/index.js';
import type { Router, Target } from '../routing/index.js';
import { relayOpenAIStream } from '../surfaces/openai/stream-relay.js';
import {
  AbortHandle,
  classifyUpstreamError,
  exchange,
  isRetryableStatus,
  UpstreamError,
  type UpstreamResponse,
} from '../upstream/index.js';
import { allowedTargets } from './access.js';
import type { Admission } from './admission.js';
import { GatewayError } from './errors.js';
import { KeyLease, KeysUnavailable, passthroughKeyMissing, passthroughKeyRejected } from './key-lease.js';
import type { ProviderRuntime } from './provider-runtime.js';
import { isSuccess, mapUpstreamFailure, mapUpstreamStatus } from './upstream-errors.js';

export interface ForwardJob {
  operation: Operation;
  /** The validated client body; `model` is replaced per target. */
  body: Record<string, unknown> & { model: string };
  stream: boolean;
}

/** Error bodies are read for the debug log only; a provider cannot make us buffer more. */
const MAX_ERROR_BODY = 64 * 1024;

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

async function readCapped(body: UpstreamResponse['body']): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_ERROR_BODY) {
      body.destroy();
      break;
    }
  }
  return text.slice(0, MAX_ERROR_BODY);
}

/** Targets are worth falling back from when the failure is theirs, not the request's. */
function fallbackWorthy(status: number): boolean {
  return isRetryableStatus(status) || status === 401 || status === 403 || status >= 500;
}

/**
 * The OpenAI-family forwarding path: route → key → adapter → upstream (retries) → relay, with
 * fallback to the next target of the route on failures before the first byte reached the client.
 */
export class Forwarder {
  constructor(
    private readonly router: Router<ProviderRuntime>,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly keyEvents: KeyEvents,
    private readonly admission: Admission,
  ) {}

  async handle(request: FastifyRequest, reply: FastifyReply, job: ForwardJob): Promise<void> {
    const ctx = request.kw;
    const resolved = this.router.resolve(job.body.model);
    if (!resolved) {
      throw new GatewayError(
        404,
        'not_found_error',
        `The model '${job.body.model}' does not exist or is not available`,
        {
          code: 'model_not_found',
          param: 'model',
        },
      );
    }
    const route = allowedTargets(ctx.principal, resolved);
    ctx.model = route.name;

    const first = route.targets[0]!;
    const totalMs = first.provider.config.timeouts.totalMs;
    const admitted = this.admission.admit(
      request,
      reply,
      // A lease outlives the longest this request may take, so a crash frees it, and nothing else does.
      { provider: first.provider.id, model: first.model, leaseMs: totalMs + 60_000 },
      job.body,
    );
    if (admitted) await admitted;
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
    const deadline = Date.now() + totalMs;

    let failure: GatewayError | undefined;
    for (const target of route.targets) {
      ctx.provider = target.provider.id;
      const outcome = await this.attempt(request, target, job, abort, deadline);
      if ('response' in outcome) return this.respond(request, reply, target, job, outcome.response, abort);
      failure = outcome.error;
      if (!outcome.fallback || abort.aborted) break;
    }
    throw failure ?? new GatewayError(503, 'service_unavailable', 'No provider is available for this model');
  }

  private async attempt(
    request: FastifyRequest,
    target: Target<ProviderRuntime>,
    job: ForwardJob,
    signal: AbortHandle,
    deadline: number,
  ): Promise<{ response: UpstreamResponse } | { error: GatewayError; fallback: boolean }> {
    const { provider, model } = target;
    request.kw.upstreamModel = model;
    const passthroughKey = provider.keys.passthrough ? request.kw.providerKey : undefined;
    if (provider.keys.passthrough && !passthroughKey && provider.adapter.requiresKey) {
      return { error: passthroughKeyMissing, fallback: false };
    }
    const lease = new KeyLease(provider, passthroughKey, this.metrics, this.keyEvents);
    let response: UpstreamResponse | undefined;
    // When every key is cooling and the first recovers sooner than a retry would wait anyway,
    // wait for it once instead of answering 429.
    for (let round = 0; !response; round++) {
      try {
        response = await exchange({
          dispatcher: provider.dispatcher,
          build: () => provider.adapter.buildCall(job.operation, model, job.body, lease.next()),
          judge: (status, headers) => lease.judge(status, headers),
          maxRotations: lease.maxRotations,
          retry: provider.config.retries,
          signal,
          deadline,
          hooks: {
            onAttempt: (status, seconds) => this.metrics.upstreamResponded(provider.id, status, seconds),
            onRetry: (reason) => this.metrics.upstreamRetried(provider.id, reason),
            onRotated: async (status, body) =>
              this.logProviderError(request, provider.id, status, await readCapped(body)),
          },
        });
      } catch (error) {
        if (error instanceof KeysUnavailable) {
          const wait = error.reason.exhausted === 'cooling' ? error.reason.retryAfterMs : undefined;
          if (
            round === 0 &&
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
    if (isSuccess(response.statusCode)) return { response };
    const text = await readCapped(response.body);
    this.logProviderError(request, provider.id, response.statusCode, text);
    if (passthroughKey && (response.statusCode === 401 || response.statusCode === 403)) {
      return { error: passthroughKeyRejected, fallback: false };
    }
    return {
      error: mapUpstreamStatus(response.statusCode, response.headers, text),
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

  private async respond(
    request: FastifyRequest,
    reply: FastifyReply,
    target: Target<ProviderRuntime>,
    job: ForwardJob,
    response: UpstreamResponse,
    signal: AbortHandle,
  ): Promise<void> {
    const { adapter, id } = target.provider;
    const ctx = request.kw;

    if (job.stream) {
      const asked = job.body.stream_options as { include_usage?: boolean } | null | undefined;
      const relay = relayOpenAIStream(response.body, {
        readUsage: adapter.readUsage,
        hideUsageChunk: asked?.include_usage !== true,
        onUsage: (usage) => {
          ctx.usage = usage;
        },
        onFailure: (reason) => {
          ctx.streamError = reason;
          this.metrics.streamFailed(id, reason);
        },
        clientGone: () => reply.raw.destroyed,
      });
      return reply
        .code(200)
        .headers(STREAM_HEADERS)
        .send(Readable.from(relay, { objectMode: false }));
    }

    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw mapUpstreamFailure(classifyUpstreamError(error, signal));
    }
    let payload: unknown;
    try {
      payload = JSON.parse(text);
    } catch {
      throw new GatewayError(502, 'upstream_error', 'The provider returned a malformed response', {
        code: 'provider_bad_response',
      });
    }
    const usage = adapter.readUsage(payload);
    if (usage) ctx.usage = usage;
    return reply.code(response.statusCode).header('content-type', 'application/json').send(text);
  }
}
