import { bodyField } from '../canonical/body-field.js';
import { type ChatRequest, UnsupportedFeature } from '../providers/index.js';
import { type ForwardJob, isNative } from './forward-job.js';
import type { ProviderRuntime } from './provider-runtime.js';

/** The output limit a request is sent without naming one, and its canonical form, made for it. */
export interface DefaultOutput {
  tokens: number;
  canonical: ChatRequest;
}

/**
 * The output tokens one target is sent for a chat request that names no limit, where its
 * provider fills one in (Anthropic requires `max_tokens`): a request cut short must be charged
 * at least that, or less than the provider may bill. Only the target being tried counts, so a
 * fallback's larger fill neither inflates every reservation nor costs a conversion up front.
 * A fill above the request's output ceiling (a large thinking budget plus room for the answer) is
 * lowered to it: the canonical form then names the ceiling as its limit, and the thinking budget
 * is fitted below it as under any limit a client names.
 * `canonical` is the form already made for this request, if any: it is made at most once;
 * `ceiling` is the most a made limit may be (`CeilingResult.generatedCeiling`).
 * Undefined when the request names a limit or the provider fills none in.
 */
export function defaultOutput(
  job: ForwardJob,
  body: Record<string, unknown>,
  provider: ProviderRuntime,
  canonical: ChatRequest | undefined,
  ceiling: number | undefined,
): DefaultOutput | undefined {
  const fill = provider.adapter.defaultOutput;
  if (job.operation !== 'chat' || !fill || isNative(job, provider.adapter)) return undefined;
  for (const field of job.surface.maxTokensFields) {
    if (typeof bodyField(body, field) === 'number') return undefined;
  }
  try {
    const request = canonical ?? job.surface.toCanonical(body);
    const tokens = fill(request);
    if (ceiling === undefined || tokens <= ceiling) return { tokens, canonical: request };
    return { tokens: ceiling, canonical: { ...request, maxTokens: ceiling } };
  } catch (error) {
    // The target's call fails the same way later, where a refusal is answered.
    if (error instanceof UnsupportedFeature) return undefined;
    throw error;
  }
}
