import type { SurfaceBinding } from '../types.js';
import { anthropicSurface } from './canonical.js';
import { anthropicErrorBody, anthropicErrorEvent } from './envelope.js';
import type { MessagesRequest } from './schema.js';
import { relayAnthropicStream } from './stream-relay.js';

/** The Anthropic Messages surface as the forwarder drives it. */
export const anthropicBinding: SurfaceBinding = {
  format: 'anthropic',
  // The route validated the body against the Messages schema before it got here (a
  // count_tokens body is a Messages body without the generation settings).
  toCanonical: (body) => anthropicSurface.toCanonical(body as MessagesRequest),
  fromCanonical: (response) => anthropicSurface.fromCanonical(response),
  streamEncoder: (options) => anthropicSurface.streamEncoder(options),
  errorBody: anthropicErrorBody,
  errorEvent: anthropicErrorEvent,
  relay: relayAnthropicStream,
  maxTokensFields: ['max_tokens'],
  asksFast: (body) => body.speed === 'fast',
  tokenCountBody: (inputTokens) => ({ input_tokens: inputTokens }),
};
