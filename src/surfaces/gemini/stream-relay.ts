import { eventData } from '../../canonical/sse.js';
import {
  geminiChunkFinishes,
  geminiGroundedSearches,
  geminiStreamError,
  jsonObject,
} from '../../providers/index.js';
import { type RelayStep, relaySse } from '../sse-relay.js';
import type { RelayOptions } from '../types.js';
import { geminiErrorEvent } from './envelope.js';

function payloadOf(event: string): Record<string, unknown> | undefined {
  const data = eventData(event);
  return data === undefined ? undefined : jsonObject(data);
}

/**
 * Relays a Gemini SSE stream to a Gemini-surface client (see `relaySse`). Every chunk's
 * `usageMetadata` covers the answer so far, so the last one read is what is counted, with the
 * grounding searches any chunk reported. Gemini has no
 * end marker: a stream is complete when a chunk carried a finish reason; a chunk holding `error`
 * is the provider's failure.
 */
export function relayGeminiStream(
  body: AsyncIterable<Uint8Array>,
  options: RelayOptions,
): AsyncGenerator<string, void, undefined> {
  // Grounding searches are reported in whichever chunk carries the grounding metadata, which need
  // not be the last one with usage: the most seen so far goes with every count.
  let searches = 0;
  return relaySse(body, options, geminiErrorEvent, (event): RelayStep => {
    const payload = payloadOf(event);
    if (!payload) return 'pass';
    if (payload.error !== undefined) return { failed: geminiStreamError(payload.error) };
    const usage = options.readUsage(payload);
    // A chunk with counts has its searches counted with them; one without is looked at alone.
    const grounded = usage ? (usage.webSearches ?? 0) : geminiGroundedSearches(payload);
    if (grounded > searches) searches = grounded;
    if (usage) options.onUsage(searches > 0 ? { ...usage, webSearches: searches } : usage);
    // Not the end of the stream: Gemini has no terminal event, and chunks may follow a finish
    // reason (another candidate's, usage counted after it). A clean end after it is the answer's.
    return geminiChunkFinishes(payload) ? 'complete' : 'pass';
  });
}
