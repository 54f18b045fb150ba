import { GatewayError } from './gateway-error.js';

/** What a client is told when a stream breaks after it began: in every surface's envelope. */
export const streamInterrupted = new GatewayError(
  502,
  'upstream_error',
  "The provider's stream ended before it finished; the answer is incomplete",
  { code: 'stream_interrupted' },
);

export const providerFailedMidStream = new GatewayError(
  502,
  'upstream_error',
  'The provider reported an error mid-stream',
  { code: 'provider_error' },
);
