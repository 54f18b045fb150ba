import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { AbortHandle } from './abort.js';
import type { AnswerAccount } from './answer-memory.js';
import type { UpstreamCall } from './call.js';
import { UpstreamBody } from './response-body.js';

/** A provider's answer as soon as its status and headers are in; the body follows. */
export interface SentResponse {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: UpstreamBody;
}

/**
 * Where an attempt's input lies in its request's, as fractions of the whole from 0 to 1: an
 * attempt at one part of a request sent in parts (an embeddings request past what one call takes)
 * sends `from` to `to` of it. The parts' shares meet end to end, so that one attempt at each adds
 * up to the whole.
 */
export interface InputShare {
  from: number;
  to: number;
}

/** Where an attempt that got no answer was sent, as the caller named it when it began. */
export interface UnansweredAttempt {
  provider: string | undefined;
  model: string | undefined;
  /** The attempt asked for fast processing, billed at a multiple of the model's rates. */
  fast: boolean;
  /** The attempt sent only this share of the request's input; the whole of it when absent. */
  share?: InputShare;
}

/**
 * Where `send` marks that the request is out to the provider and unanswered: the provider bills
 * a request it received even when no answer ever comes. `exchange` moves each failed attempt's
 * mark to `unanswered`, so that a later attempt does not hide it.
 */
export interface SendProgress {
  upstreamSent: boolean;
  /** The provider and model the current attempt goes to. */
  provider?: string | undefined;
  upstreamModel?: string | undefined;
  /** The current attempt asks its provider for fast processing. */
  fast?: boolean;
  /** The share of the request's input the current attempt sends; the whole when undefined. */
  share?: InputShare | undefined;
  unanswered?: UnansweredAttempt[] | undefined;
}

const asError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error('request aborted'));

/**
 * POSTs `call` through `dispatcher` with a dispatch handler of our own instead of undici's
 * `request()`: no Readable and no promise per chunk (see UpstreamBody). Aborting `signal` cuts the
 * exchange at any point, before the answer (the promise rejects) or during its body (the reader's
 * next read fails), with undici's own error, which `classifyUpstreamError` reads.
 */
export function send(
  dispatcher: Dispatcher,
  call: UpstreamCall,
  signal: AbortHandle,
  progress?: SendProgress,
  /** The account an answer read whole counts in; the process's by default. */
  answers?: AnswerAccount,
): Promise<SentResponse> {
  if (signal.aborted) return Promise.reject(asError(signal.reason));
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let body: UpstreamBody | undefined;
    const onAbort = () => controller?.abort(asError(signal.reason));
    const settled = () => signal.removeListener('abort', onAbort);
    signal.once('abort', onAbort);
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(started) {
        controller = started;
        if (signal.aborted) started.abort(asError(signal.reason));
        // Called on a live connection just before undici writes the request (a string body at once).
        else if (progress) progress.upstreamSent = true;
      },
      onResponseStart(started, statusCode, headers) {
        // An informational answer (100 Continue) is not the answer.
        if (statusCode < 200) return;
        if (progress) progress.upstreamSent = false;
        body = new UpstreamBody(started, answers);
        resolve({ statusCode, headers, body });
      },
      onResponseData(_controller, chunk) {
        body?.push(chunk);
      },
      onResponseEnd() {
        settled();
        body?.end();
      },
      onResponseError(_controller, error) {
        settled();
        if (body) body.fail(error);
        else reject(error);
      },
    };
    try {
      dispatcher.dispatch(
        { method: 'POST', path: call.path, headers: call.headers, body: call.body },
        handler,
      );
    } catch (error) {
      settled();
      reject(error);
    }
  });
}
