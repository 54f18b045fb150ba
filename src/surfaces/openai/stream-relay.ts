import { eventData } from '../../canonical/sse.js';
import { type RelayStep, relaySse } from '../sse-relay.js';
import type { RelayOptions } from '../types.js';
import { openAIErrorEvent } from './envelope.js';

export type { RelayOptions } from '../types.js';

/** OpenAI reports failures inside a stream as a data event holding only an error object. */
const ERROR_EVENT = /^\{\s*"error"\s*:/;

/**
 * Relays an OpenAI-format SSE stream to an OpenAI-surface client (see `relaySse`): its terminal
 * event is `data: [DONE]`, a failure is a data event holding only an error object, and a
 * usage-only chunk the gateway asked for on the client's behalf is read and kept back.
 */
export function relayOpenAIStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  return relaySse(body, options, openAIErrorEvent, (event): RelayStep => {
    const data = eventData(event);
    if (data === undefined) return 'skip';
    if (data === '[DONE]') return 'done';
    if (ERROR_EVENT.test(data)) return { failed: undefined };
    if (data.includes('"usage":{')) {
      const payload = JSON.parse(data) as { choices?: unknown[] };
      const usage = options.readUsage(payload);
      if (usage) options.onUsage(usage);
      if (options.hideUsageChunk && payload.choices?.length === 0) return 'skip';
    }
    return 'pass';
  });
}
