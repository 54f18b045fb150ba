import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AbortHandle } from './abort.js';
import type { AnswerAccount } from './answer-memory.js';
import type { UpstreamCall } from './call.js';
import { statusInBody } from './error-answer.js';
import { classifyUpstreamError, type UpstreamError } from './errors.js';
import type { UpstreamBody } from './response-body.js';
import { backoffDelay, isRetryableStatus, retryAfterMs } from './retry-policy.js';
import { type SendProgress, type SentResponse, send } from './send.js';
import { VIA_HEADER } from './via.js';

export interface RetryOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface ExchangeHooks {
  /** Per attempt: the status (or 'error') and seconds until response headers. */
  onAttempt?(status: number | 'error', seconds: number): void;
  onRetry?(reason: string, delayMs: number): void;
  /** Consumes the body of a response whose key was rotated away (for the debug log); default: discarded. */
  onRotated?(status: number, body: UpstreamBody): Promise<void>;
}

/** What a response says about the attempt's key; see `ExchangeRequest.judge`. */
export type Verdict = 'rotate' | 'final' | undefined;

export interface ExchangeRequest {
  dispatcher: Dispatcher;
  /**
   * Called once per attempt so that each attempt may use another key. What it throws (no usable
   * key, say) ends the exchange as is.
   */
  build(): UpstreamCall;
  /**
   * Looks at each response before the retry policy does. `rotate` means the key was at fault (it
   * was rate limited or refused): try again at once with another key, without spending one of
   * `retry.maxAttempts`. At most `maxRotations` times. `final` means no other attempt could fare
   * better: the response is the answer. A verdict that needs the body (`peek`) comes as a promise.
   */
  judge?(status: number, headers: IncomingHttpHeaders, body: UpstreamBody): Verdict | Promise<Verdict>;
  maxRotations?: number;
  retry: RetryOptions;
  signal: AbortHandle;
  /** Epoch ms after which no new attempt starts (the request's total deadline). */
  deadline: number;
  hooks?: ExchangeHooks;
  /** Marked while an attempt's request is out and unanswered (see `SendProgress`). */
  progress?: SendProgress;
  /**
   * The `x-keyward-via` each attempt carries (`onwardVia`): the gateways the client's request
   * passed through, then this one. Without it, the provider pool names this gateway alone.
   */
  via?: string;
  /** The account an answer read whole counts in (`AnswerAccount`); the process's by default. */
  answers?: AnswerAccount;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
  attempts: number;
}

/**
 * Sends one request upstream, retrying on 429/502/503/504 and on connection failures with
 * exponential backoff and full jitter, honouring `Retry-After` (and Azure's `retry-after-ms`).
 * Retries only ever happen here, before any byte has been given to the client. Returns the last response, whatever its status;
 * throws an `UpstreamError` when no response could be had.
 */
type Attempt =
  | { response: SentResponse; failure?: undefined }
  | { response?: undefined; failure: UpstreamError };

async function attemptOnce(request: ExchangeRequest): Promise<Attempt> {
  const built = request.build();
  const call = request.via ? { ...built, headers: { ...built.headers, [VIA_HEADER]: request.via } } : built;
  const started = performance.now();
  try {
    const response = await send(request.dispatcher, call, request.signal, request.progress, request.answers);
    const seconds = (performance.now() - started) / 1000;
    // A 2xx whose body is an error is that error from here on: judged, retried and mapped as one.
    if (response.statusCode < 300) {
      response.statusCode = (await statusInBody(response.headers, response.body)) ?? response.statusCode;
    }
    request.hooks?.onAttempt?.(response.statusCode, seconds);
    // A gateway timeout in front of the provider: the provider read the request and may have
    // answered it (and billed it) too late for the proxy; counted as an attempt never answered.
    if (response.statusCode === 504 && request.progress) chargeUnanswered(request.progress);
    return { response };
  } catch (error) {
    request.hooks?.onAttempt?.('error', (performance.now() - started) / 1000);
    unanswered(request.progress);
    return { failure: classifyUpstreamError(error, request.signal) };
  }
}

/**
 * Moves a failed attempt's mark to the list of attempts the provider may bill. Whether it read
 * the request cannot be told from here (a reset may come before or after it did): counted, since
 * each attempt is bounded and a provider that bills one unseen would otherwise go uncharged.
 */
function unanswered(progress: SendProgress | undefined): void {
  if (!progress?.upstreamSent) return;
  progress.upstreamSent = false;
  chargeUnanswered(progress);
}

/**
 * Adds the current attempt (its provider, model and share of the input) to those charged their
 * reservation, or the share of it they sent.
 */
export function chargeUnanswered(progress: SendProgress): void {
  progress.unanswered ??= [];
  progress.unanswered.push({
    provider: progress.provider,
    model: progress.upstreamModel,
    fast: progress.fast === true,
    ...(progress.share && { share: progress.share }),
  });
}

const settle = ({ statusCode, headers, body }: SentResponse, attempts: number): UpstreamResponse => ({
  statusCode,
  headers,
  body,
  attempts,
});

export async function exchange(request: ExchangeRequest): Promise<UpstreamResponse> {
  const { retry, signal, deadline } = request;
  let rotations = 0;
  for (let attempt = 1; ; attempt++) {
    const { response, failure } = await attemptOnce(request);
    const judged = response && request.judge?.(response.statusCode, response.headers, response.body);
    const verdict = judged instanceof Promise ? await judged : judged;
    if (response && verdict === 'final') return settle(response, attempt + rotations);
    if (response && verdict === 'rotate' && rotations < (request.maxRotations ?? 0)) {
      rotations++;
      attempt--;
      if (request.hooks?.onRotated) await request.hooks.onRotated(response.statusCode, response.body);
      else await response.body.dump();
      request.hooks?.onRetry?.(String(response.statusCode), 0);
      continue;
    }
    const last = attempt >= retry.maxAttempts;
    if (failure && (!failure.retryable || last)) throw failure;
    if (response && (!isRetryableStatus(response.statusCode) || last))
      return settle(response, attempt + rotations);

    const asked = response ? retryAfterMs(response.headers) : undefined;
    const delay = asked ?? backoffDelay(attempt - 1, retry);
    if (delay > retry.maxDelayMs || Date.now() + delay >= deadline) {
      // The provider asks for a longer pause than this request may wait: answer now, and let the
      // client see the provider's Retry-After.
      if (failure) throw failure;
      return settle(response, attempt + rotations);
    }
    if (response) await response.body.dump();
    request.hooks?.onRetry?.(failure ? failure.failure : String(response.statusCode), delay);
    try {
      await signal.wait(delay);
    } catch (error) {
      throw classifyUpstreamError(error, signal);
    }
  }
}
