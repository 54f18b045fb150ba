import { bodyField } from '../limits/ceilings.js';
import { type ChatRequest, UnsupportedFeature } from '../providers/index.js';
import type { Target } from '../routing/index.js';
import { type ForwardJob, isNative } from './forward-job.js';
import type { ProviderRuntime } from './provider-runtime.js';

/** The output limit a request is sent without naming one, and its canonical form, made for it. */
export interface DefaultOutput {
  tokens: number;
  canonical: ChatRequest;
}

/**
 * The most output tokens a target of the route is sent for a chat request that names no limit,
 * where its provider fills one in (Anthropic requires `max_tokens`): admission reserves it in
 * place of its own guess, or a request cut short would be charged less than the provider may
 * bill. Undefined when the request names a limit or no target fills one in.
 */
export function defaultOutput(
  job: ForwardJob,
  body: Record<string, unknown>,
  targets: readonly Target<ProviderRuntime>[],
): DefaultOutput | undefined {
  if (job.operation !== 'chat') return undefined;
  for (const field of job.surface.maxTokensFields) {
    if (typeof bodyField(body, field) === 'number') return undefined;
  }
  let found: DefaultOutput | undefined;
  for (const { provider } of targets) {
    const fill = provider.adapter.defaultOutput;
    if (!fill || isNative(job, provider.adapter)) continue;
    if (!found) {
      try {
        found = { tokens: 0, canonical: job.surface.toCanonical(body) };
      } catch (error) {
        // The target's call fails the same way later, where a refusal is answered.
        if (error instanceof UnsupportedFeature) return undefined;
        throw error;
      }
    }
    found.tokens = Math.max(found.tokens, fill(found.canonical));
  }
  return found;
}
