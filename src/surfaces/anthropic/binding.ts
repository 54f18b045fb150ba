import type { SurfaceBinding } from '../types.js';
import { anthropicSurface } from './canonical.js';
import { anthropicErrorBody, anthropicErrorEvent } from './envelope.js';
import type { MessagesRequest } from './schema.js';
import { relayAnthropicStream } from './stream-relay.js';

/** Anthropic's web search tool, by version (`web_search_20250305`, …). */
const WEB_SEARCH = /^web_search_\d{8}$/;
/**
 * Searches reserved for a web search tool that names no `max_uses`: Anthropic then lets the model
 * search as often as it decides. The charge is the count Anthropic reports, whatever was reserved.
 */
const UNCAPPED_SEARCHES = 10;

function webSearchesAllowed(body: Record<string, unknown>): number | undefined {
  if (!Array.isArray(body.tools)) return undefined;
  let searches: number | undefined;
  for (const tool of body.tools as Array<{ type?: unknown; max_uses?: unknown }>) {
    if (typeof tool.type !== 'string' || !WEB_SEARCH.test(tool.type)) continue;
    const uses = typeof tool.max_uses === 'number' ? tool.max_uses : UNCAPPED_SEARCHES;
    searches = (searches ?? 0) + uses;
  }
  return searches;
}

/** The Anthropic Messages surface as the forwarder drives it. */
export const anthropicBinding: SurfaceBinding = {
  format: 'anthropic',
  // The route validated the body against the Messages schema before it got here (a
  // count_tokens body is a Messages body without the generation settings).
  toCanonical: (body) => anthropicSurface.toCanonical(body as MessagesRequest),
  clientParam: (param, request, body) =>
    anthropicSurface.clientParam?.(param, request, body as MessagesRequest) ?? param,
  fromCanonical: (response) => anthropicSurface.fromCanonical(response),
  streamEncoder: (options) => anthropicSurface.streamEncoder(options),
  errorBody: anthropicErrorBody,
  errorEvent: anthropicErrorEvent,
  relay: relayAnthropicStream,
  maxTokensFields: ['max_tokens'],
  asksFast: (body) => body.speed === 'fast',
  webSearchesAllowed,
  tokenCountBody: (inputTokens) => ({ input_tokens: inputTokens }),
};
