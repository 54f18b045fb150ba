import type { KeySource } from './types.js';

export const PASSTHROUGH_KIND = 'passthrough';

/**
 * `keys: { passthrough: true }`: each client sends its own key in `x-provider-api-key`, so there
 * is nothing to load. It is a source of its own, not the absence of one, so that only a provider
 * whose block says so is given a client's key: one with no `keys` block is sent no key at all.
 */
export function createPassthroughSource(): KeySource {
  return {
    kind: PASSTHROUGH_KIND,
    describe: "each request's x-provider-api-key",
    load: () => Promise.resolve([]),
  };
}
