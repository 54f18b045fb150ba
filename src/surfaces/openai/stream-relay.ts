import { eventData } from '../../canonical/sse.js';
import { type RelayStep, relaySse } from '../sse-relay.js';
import type { RelayOptions } from '../types.js';
import { openAIErrorEvent } from './envelope.js';

export type { RelayOptions } from '../types.js';

/** OpenAI reports failures inside a stream as a data event holding only an error object. */
const ERROR_EVENT = /^\{\s*"error"\s*:/;
/**
 * Servers imitating the API may put the error beside a chunk's other fields. Inside a JSON string
 * a quote is escaped, so only a key reads `"error":`: the chunk is parsed only when one does.
 */
const ERROR_KEY = '"error":';

/** Whether a chunk that names an `error` key somewhere has one at its top. */
function carriesError(data: string): boolean {
  try {
    const payload: unknown = JSON.parse(data);
    return typeof payload === 'object' && payload !== null && 'error' in payload && payload.error != null;
  } catch {
    return false;
  }
}

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
    if (ERROR_EVENT.test(data) || (data.includes(ERROR_KEY) && carriesError(data)))
      return { failed: undefined };
    if (data.includes('"usage":{')) {
      const payload = JSON.parse(data) as { choices?: unknown[] };
      const usage = options.readUsage(payload);
      if (usage) options.onUsage(usage);
      if (options.hideUsageChunk && payload.choices?.length === 0) return 'skip';
    }
    return 'pass';
  });
}
