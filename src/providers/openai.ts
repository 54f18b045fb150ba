import type { ProviderConfig } from '../config/index.js';
import type { SecretString } from '../keys/index.js';
import type { Operation, ProviderAdapter, UpstreamCall, Usage } from './types.js';

const PATHS: Record<Operation, string> = { chat: '/chat/completions', embeddings: '/embeddings' };

/** Headers every upstream request carries, plus the provider's configured static headers. */
export function baseHeaders(config: ProviderConfig): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    ...config.headers,
  };
}

/** The path prefix of a base URL such as `https://api.openai.com/v1`, without a trailing slash. */
export function basePath(config: ProviderConfig): string {
  return new URL(config.baseUrl).pathname.replace(/\/+$/, '');
}

interface OpenAIUsage {
  prompt_tokens?: unknown;
  completion_tokens?: unknown;
  prompt_tokens_details?: { cached_tokens?: unknown } | null;
}

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);

/** Usage as OpenAI reports it, in responses, embeddings and the final stream chunk. */
export function readOpenAIUsage(payload: unknown): Usage | undefined {
  const usage = (payload as { usage?: OpenAIUsage | null } | null)?.usage;
  if (!usage || typeof usage !== 'object') return undefined;
  const cached = count(usage.prompt_tokens_details?.cached_tokens);
  return {
    inputTokens: count(usage.prompt_tokens),
    outputTokens: count(usage.completion_tokens),
    ...(cached > 0 && { cachedTokens: cached }),
  };
}

/**
 * OpenAI and everything that speaks its API under a base URL: OpenAI itself, OpenAI-compatible
 * servers (vLLM, LM Studio, Together, Groq, …) and Ollama's `/v1` endpoint.
 */
export function createOpenAIAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const headers = baseHeaders(config);
  return {
    type: config.type,
    requiresKey: config.type === 'openai',
    readUsage: readOpenAIUsage,
    buildCall(operation, model, body, key: SecretString | undefined): UpstreamCall {
      const callHeaders = key ? { ...headers, authorization: `Bearer ${key.reveal()}` } : headers;
      return {
        path: prefix + PATHS[operation],
        headers: callHeaders,
        body: JSON.stringify({ ...body, model }),
      };
    },
  };
}
