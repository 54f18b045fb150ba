import type { ProviderConfig, ProviderType } from '../config/index.js';
import type { SecretString } from '../keys/index.js';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedTokens?: number;
}

/** What the gateway asks a provider to do; one per client-facing operation. */
export type Operation = 'chat' | 'embeddings';

/** A fully built upstream request, relative to the provider's origin. */
export interface UpstreamCall {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Turns a validated client request into the provider's wire request. */
export interface ProviderAdapter {
  readonly type: ProviderType;
  /** Whether the provider refuses requests without a key (Ollama and local servers do not). */
  readonly requiresKey: boolean;
  buildCall(
    operation: Operation,
    model: string,
    body: Record<string, unknown>,
    key: SecretString | undefined,
  ): UpstreamCall;
  /** Token counts from a response body or a stream chunk, when it carries them. */
  readUsage(payload: unknown): Usage | undefined;
}

export type AdapterFactory = (config: ProviderConfig) => ProviderAdapter;
