import { eventData, SseSplitter } from '../../canonical/sse.js';
import {
  streamInterrupted as interrupted,
  providerFailedMidStream as providerFailed,
} from '../../errors/stream.js';
import type { RelayOptions } from '../types.js';
import { openAIErrorEvent } from './envelope.js';

export type { RelayOptions } from '../types.js';

/** OpenAI reports failures inside a stream as a data event holding only an error object. */
const ERROR_EVENT = /^\{\s*"error"\s*:/;

/**
 * Relays an OpenAI-format SSE stream to an OpenAI-surface client. Each upstream chunk's complete
 * events go out as soon as they arrive. A stream that ends without `data: [DONE]`, breaks, or
 * carries an error event ends with an error event, which the OpenAI SDKs raise as an APIError:
 * a cut never looks like a clean finish, and a provider's error text never reaches the client.
 */
export async function* relayOpenAIStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  const splitter = new SseSplitter();
  let done = false;
  try {
    for await (const chunk of body) {
      let out = '';
      for (const event of splitter.push(chunk)) {
        const data = eventData(event);
        if (data === undefined) continue;
        if (data === '[DONE]') {
          done = true;
        } else if (ERROR_EVENT.test(data)) {
          options.onFailure('provider_error');
          yield out + openAIErrorEvent(providerFailed);
          return;
        } else if (data.includes('"usage":{')) {
          const payload = JSON.parse(data) as { choices?: unknown[] };
          const usage = options.readUsage(payload);
          if (usage) options.onUsage(usage);
          if (options.hideUsageChunk && payload.choices?.length === 0) continue;
        }
        out += event;
      }
      if (out) yield out;
    }
  } catch {
    if (options.clientGone()) return;
    options.onFailure('cut');
    yield openAIErrorEvent(interrupted);
    return;
  }
  if (!done) {
    options.onFailure(splitter.rest().trim() ? 'cut' : 'incomplete');
    yield openAIErrorEvent(interrupted);
  }
}
