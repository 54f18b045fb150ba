import type { StreamFailure } from '../canonical/model.js';
import { SseSplitter } from '../canonical/sse.js';
import type { GatewayError } from '../errors/gateway-error.js';
import { streamInterrupted as interrupted } from '../errors/stream.js';
import type { RelayOptions } from './types.js';

/** What a format's relay makes of one upstream event. */
export type RelayStep =
  /** Goes to the client. */
  | 'pass'
  /** Is kept from the client (a comment, a usage-only chunk the client did not ask for). */
  | 'skip'
  /**
   * Goes to the client and finishes the stream (the format's terminal event): nothing after it is
   * read, so neither a late error nor a provider that holds its connection open reaches the client.
   */
  | 'done'
  /**
   * Goes to the client; the answer is whole if the stream ends cleanly after it, though more may
   * come first (a server that sends no terminal event; `relaySse`'s `closing` ends the client's).
   */
  | 'complete'
  /** Goes to the client in place of the event as the provider sent it (`complete` as above). */
  | { replaced: string; complete?: true }
  /** The provider reported an error: the stream ends with ours; `failure` carries its status. */
  | { failed: StreamFailure };

/**
 * The relay every same-format stream shares: each upstream chunk's complete SSE events go out as
 * soon as they arrive, as `step` sorts them. A stream that ends before its terminal event, breaks,
 * or carries an error event ends with the surface's own error event (`errorEvent`), which its
 * SDKs raise: a cut never looks like a clean finish, and a provider's error text never reaches
 * the client. A stream that ends cleanly after a `complete` event is finished with `closing`.
 */
export async function* relaySse(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
  errorEvent: (error: GatewayError) => string,
  step: (event: string) => RelayStep,
  closing = '',
): AsyncGenerator<string, void, undefined> {
  const splitter = new SseSplitter();
  let complete = false;
  try {
    for await (const chunk of body) {
      let out = '';
      for (const event of splitter.push(chunk)) {
        const verdict = step(event);
        if (verdict === 'skip') continue;
        if (typeof verdict === 'object') {
          if ('replaced' in verdict) {
            out += verdict.replaced;
            if (verdict.complete) complete = true;
            continue;
          }
          options.onFailure('provider_error', verdict.failed);
          yield out + errorEvent(options.failureError(verdict.failed));
          return;
        }
        out += event;
        if (verdict === 'done') {
          // Leaving the loop releases the provider's body: the rest of it is not the answer's.
          yield out;
          return;
        }
        if (verdict === 'complete') complete = true;
      }
      if (out) yield out;
    }
  } catch (error) {
    if (options.clientGone()) return;
    options.onFailure('cut', error);
    yield errorEvent(options.failureError(error));
    return;
  }
  const rest = splitter.rest().trim();
  if (complete && !rest) {
    if (closing) yield closing;
    return;
  }
  options.onFailure(rest ? 'cut' : 'incomplete');
  yield errorEvent(interrupted);
}
