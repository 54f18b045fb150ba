import type {} from 'fastify';
import type { Principal } from '../auth/index.js';
import type { SecretString } from '../keys/index.js';
import type { Lease } from '../limits/index.js';
import type { Usage } from '../providers/index.js';
import type { InputShare, UnansweredAttempt } from '../upstream/index.js';

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
  /** The model name the provider was asked for (prices are looked up by it). */
  upstreamModel?: string;
  /** The provider was asked for fast processing, billed at a multiple of the model's rates. */
  fast: boolean;
  /** What the limiter handed out for this request; settled when the response is over. */
  lease?: Lease;
  /** The request's cost in micro-dollars, once known. */
  costMicros?: number;
  attempts?: number;
  usage?: Usage;
  /**
   * Tokens admission reserved for the request: what it is charged, at least, when the provider has
   * it but no usage came or its stream was cut short (see request accounting).
   */
  estimate?: Usage;
  /**
   * That reservation as one provider's model counts it, where models count the request's inline images
   * differently (set only then): an attempt sent to a model is charged its own count, not the
   * dearest target's priced at another's price.
   */
  estimateAt: ((provider: string, model: string) => Usage) | undefined;
  /**
   * The output limit the route's targets are sent when the request names none (Anthropic requires
   * one): admission reserves it, since a cut request is charged what was reserved.
   */
  defaultOutput?: number;
  /** The provider accepted the request (a 2xx being relayed): it bills it, whatever happens next. */
  upstreamAnswered: boolean;
  /**
   * The request went out to the provider and no answer has come: the provider bills it even if
   * none ever does (a timeout, the client leaving).
   */
  upstreamSent: boolean;
  /**
   * The share of the request's input the current attempt sends (one part of a request sent in
   * parts); undefined while it sends the whole.
   */
  share: InputShare | undefined;
  /** Attempts that went out and failed with no answer: each is charged the reservation, or its share. */
  unanswered: UnansweredAttempt[] | undefined;
  /** The answer is going out as a stream: usage read from it before its end is provisional. */
  streamed: boolean;
  /** Set when a stream ended with an error event instead of a clean finish. */
  streamError?: string;
  /** The code of the error answered (4xx/5xx), for the log line. */
  errorCode?: string;
  /** The model the body asked for, when an error came before routing named one. */
  askedModel?: string;
  /** The prompt template the request ran, for usage, audit, metrics and the log line. */
  template?: string;
}

/**
 * A context with every field present from the start: V8 then gives every request's context one
 * hidden class, instead of moving each to a new one as the request fills it in.
 */
export function newRequestContext(route: string): RequestContext {
  return {
    startedAt: performance.now(),
    route,
    principal: undefined,
    providerKey: undefined,
    model: undefined,
    provider: undefined,
    upstreamModel: undefined,
    fast: false,
    lease: undefined,
    costMicros: undefined,
    attempts: undefined,
    usage: undefined,
    estimate: undefined,
    estimateAt: undefined,
    defaultOutput: undefined,
    upstreamAnswered: false,
    upstreamSent: false,
    share: undefined,
    unanswered: undefined,
    streamed: false,
    streamError: undefined,
    errorCode: undefined,
    askedModel: undefined,
    template: undefined,
  };
}

declare module 'fastify' {
  interface FastifyRequest {
    kw: RequestContext;
  }
}
