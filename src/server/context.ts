import type {} from 'fastify';
import type { Principal } from '../auth/index.js';
import type { SecretString } from '../keys/index.js';
import type { Usage } from '../providers/index.js';

/** What one data-plane request collects for its log line and metrics. */
export interface RequestContext {
  /** `performance.now()` when the request arrived. */
  startedAt: number;
  route: string;
  principal?: Principal;
  /** The client's own provider key (`x-provider-api-key`), for passthrough providers only. */
  providerKey?: SecretString;
  model?: string;
  provider?: string;
  attempts?: number;
  usage?: Usage;
  /** Set when a stream ended with an error event instead of a clean finish. */
  streamError?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    kw: RequestContext;
  }
}
