import { eventData, SseSplitter } from '../../canonical/sse.js';
import {
  streamInterrupted as interrupted,
  providerFailedMidStream as providerFailed,
} from '../../errors/stream.js';
import { isRecord, StreamFailure } from '../../providers/index.js';
import type { RelayOptions } from '../types.js';
import { geminiErrorEvent } from './envelope.js';

function payloadOf(event: string): Record<string, unknown> | undefined {
  const data = eventData(event);
  if (data === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(data);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A chunk ends the answer when its candidate has a finish reason, or the prompt was blocked. */
function finishes(payload: Record<string, unknown>): boolean {
  const candidate = Array.isArray(payload.candidates) ? payload.candidates[0] : undefined;
  if (isRecord(candidate) && typeof candidate.finishReason === 'string') return true;
  return isRecord(payload.promptFeedback) && typeof payload.promptFeedback.blockReason === 'string';
}

/**
 * Relays a Gemini SSE stream to a Gemini-surface client: each upstream chunk's complete events go
 * out unchanged as soon as they arrive. Every chunk's `usageMetadata` covers the answer so far, so
 * the last one read is what is counted. Gemini has no end marker: a stream is complete when a
 * chunk carried a finish reason. One that ends before that, breaks, or carries an `error` chunk
 * ends with our own error chunk, which the SDK raises: a provider's error text never reaches the
 * client.
 */
export async function* relayGeminiStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  const splitter = new SseSplitter();
  let done = false;
  try {
    for await (const chunk of body) {
      let out = '';
      for (const event of splitter.push(chunk)) {
        const payload = payloadOf(event);
        if (payload?.error !== undefined) {
          const code = isRecord(payload.error) ? payload.error.code : undefined;
          const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 500;
          options.onFailure(
            'provider_error',
            new StreamFailure('provider_error', 'Gemini reported an error', status),
          );
          yield out + geminiErrorEvent(providerFailed);
          return;
        }
        if (payload) {
          const usage = options.readUsage(payload);
          if (usage) options.onUsage(usage);
          if (finishes(payload)) done = true;
        }
        out += event;
      }
      if (out) yield out;
    }
  } catch {
    if (options.clientGone()) return;
    options.onFailure('cut');
    yield geminiErrorEvent(interrupted);
    return;
  }
  if (!done) {
    options.onFailure(splitter.rest().trim() ? 'cut' : 'incomplete');
    yield geminiErrorEvent(interrupted);
  }
}
