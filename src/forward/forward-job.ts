/** What the forwarder and the responder share about one request in flight. */

import type { GatewayError } from '../errors/gateway-error.js';
import type { FilledOutput } from '../limits/ceilings.js';
import type { ChatRequest, ProviderAdapter } from '../providers/index.js';
import type { ForwardJob } from '../surfaces/types.js';
import type { AbortHandle } from '../upstream/index.js';

export type { ForwardJob };

/** One request's state across its targets: the body after the alias's policy, its canonical form once needed. */
export interface InFlight {
  job: ForwardJob;
  body: Record<string, unknown>;
  /** The body's temperature is the alias's default (`ChatRequest.temperatureIsDefault`). */
  temperatureIsDefault: boolean;
  canonical?: ChatRequest;
  /** The most an output limit the gateway makes for the body may be (`CeilingResult.generatedCeiling`). */
  outputCeiling?: number | undefined;
  /** The output limit the body was given, naming none (`CeilingResult.filled`). */
  filledOutput?: FilledOutput | undefined;
  /** The body asks for fast processing: each target of the surface's format is sent the option. */
  fast: boolean;
  abort: AbortHandle;
  deadline: number;
}

/** `unsupported`: the target cannot carry this request at all (nothing was sent). */
export type Failure = { error: GatewayError; fallback: boolean; unsupported?: true };

/** Embeddings have one format (OpenAI's); chat and counting pass through when the formats agree. */
export function isNative(job: ForwardJob, adapter: ProviderAdapter): boolean {
  return job.operation === 'embeddings' || adapter.format === job.surface.format;
}

/** Whether a target is sent the body's billed options (fast processing, web search), and so billed them. */
export function takesOptions(job: ForwardJob, adapter: ProviderAdapter): boolean {
  return adapter.format === (job.surface.optionsFormat ?? job.surface.format);
}
