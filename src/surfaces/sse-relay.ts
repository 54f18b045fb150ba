import type { StreamFailure } from '../canonical/model.js';
import { SseSplitter } from '../canonical/sse.js';
import type { GatewayError } from '../errors/gateway-error.js';
import {
  streamInterrupted as interrupted,
  providerFailedMidStream as providerFailed,
} from '../errors/stream.js';
import type { RelayOptions } from './types.js';

/** What a format's relay makes of one upstream event. */
export type RelayStep =
  /** Goes to the client. */
  | 'pass'
  /** Is kept from the client (a comment, a usage-only chunk the client did not ask for). */
  | 'skip'
  /** Goes to the client and finishes the stream cleanly (the format's terminal event). */
  | 'done'
  /** The provider reported an error: the stream ends with ours; `failure` carries its status. */
  | { failed: StreamFailure | undefined };

/**
 * The relay every same-format stream shares: each upstream chunk's complete SSE events go out as
 * soon as they arrive, as `step` sorts them. A stream that ends before its terminal event, breaks,
 * or carries an error event ends with the surface's own error event (`errorEvent`), which its
 * SDKs raise: a cut never looks like a clean finish, and a provider's error text never reaches
 * the client.
 */
export async function* relaySse(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
  errorEvent: (error: GatewayError) => string,
  step: (event: string) => RelayStep,
): AsyncGenerator<string, void, undefined> {
  const splitter = new SseSplitter();
  let done = false;
  try {
    for await (const chunk of body) {
      let out = '';
      for (const event of splitter.push(chunk)) {
        const verdict = step(event);
        if (verdict === 'skip') continue;
        if (typeof verdict === 'object') {
          options.onFailure('provider_error', verdict.failed);
          yield out + errorEvent(providerFailed);
          return;
        }
        if (verdict === 'done') done = true;
        out += event;
      }
      if (out) yield out;
    }
  } catch {
    if (options.clientGone()) return;
    options.onFailure('cut');
    yield errorEvent(interrupted);
    return;
  }
  if (!done) {
    options.onFailure(splitter.rest().trim() ? 'cut' : 'incomplete');
    yield errorEvent(interrupted);
  }
}
