import { eventData } from '../../canonical/sse.js';
import { isRecord, StreamFailure } from '../../providers/index.js';
import { type RelayStep, relaySse } from '../sse-relay.js';
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
 * Relays a Gemini SSE stream to a Gemini-surface client (see `relaySse`). Every chunk's
 * `usageMetadata` covers the answer so far, so the last one read is what is counted. Gemini has no
 * end marker: a stream is complete when a chunk carried a finish reason; a chunk holding `error`
 * is the provider's failure.
 */
export function relayGeminiStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  return relaySse(body, options, geminiErrorEvent, (event): RelayStep => {
    const payload = payloadOf(event);
    if (!payload) return 'pass';
    if (payload.error !== undefined) {
      const code = isRecord(payload.error) ? payload.error.code : undefined;
      const status = typeof code === 'number' && code >= 400 && code <= 599 ? code : 500;
      return { failed: new StreamFailure('provider_error', 'Gemini reported an error', status) };
    }
    const usage = options.readUsage(payload);
    if (usage) options.onUsage(usage);
    return finishes(payload) ? 'done' : 'pass';
  });
}
