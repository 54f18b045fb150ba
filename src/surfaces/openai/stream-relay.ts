import type { Usage } from '../../providers/index.js';
import { GatewayError } from '../../server/errors.js';
import { eventData, SseSplitter } from '../../upstream/index.js';
import { openAIErrorEvent } from './envelope.js';

export interface RelayOptions {
  readUsage(payload: unknown): Usage | undefined;
  /** The gateway asked for usage on the client's behalf: keep the usage-only chunk to itself. */
  hideUsageChunk: boolean;
  onUsage(usage: Usage): void;
  /** Called when the stream does not finish cleanly; `reason` is for metrics and logs. */
  onFailure(reason: 'cut' | 'incomplete' | 'provider_error'): void;
  /** True once the client has gone: nothing more is written then. */
  clientGone(): boolean;
}

/** OpenAI reports failures inside a stream as a data event holding only an error object. */
const ERROR_EVENT = /^\{\s*"error"\s*:/;

const interrupted = new GatewayError(
  502,
  'upstream_error',
  "The provider's stream ended before it finished; the answer is incomplete",
  { code: 'stream_interrupted' },
);
const providerFailed = new GatewayError(502, 'upstream_error', 'The provider reported an error mid-stream', {
  code: 'provider_error',
});

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
