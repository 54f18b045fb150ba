import type { ProviderConfig, ProviderType } from '../config/index.js';
import { createAnthropicAdapter } from './anthropic/index.js';
import { createAzureOpenAIAdapter } from './azure-openai/index.js';
import { createGeminiAdapter } from './gemini/index.js';
import { createOllamaAdapter } from './ollama/index.js';
import { createOpenAIAdapter } from './openai/index.js';
import type { AdapterFactory, ProviderAdapter } from './types.js';

export * from '../canonical/model.js';
export { estimateInputTokens, measureInput, tokensFor } from '../canonical/token-estimate.js';
export { toolUseId as anthropicToolUseId } from './anthropic/codec.js';
export { anthropicStreamError } from './anthropic/stream.js';
export {
  decodeFunctionCall as geminiFunctionCall,
  geminiGroundedSearches,
} from './gemini/codec.js';
export { geminiChunkFinishes, geminiStreamError } from './gemini/stream.js';
export { ToolCallPositions } from './openai/call-positions.js';
export { openAIStreamError } from './openai/stream.js';
export type {
  CallOptions,
  ChatCodec,
  EmbeddingsList,
  Operation,
  ProviderAdapter,
  UpstreamCall,
  Usage,
  WireFormat,
} from './types.js';
export { isRecord, jsonObject } from './wire-values.js';

/** One line per provider type: adding a provider is a module plus its registration here. */
const factories: Record<ProviderType, AdapterFactory> = {
  openai: createOpenAIAdapter,
  'openai-compatible': createOpenAIAdapter,
  'azure-openai': createAzureOpenAIAdapter,
  anthropic: createAnthropicAdapter,
  gemini: createGeminiAdapter,
  ollama: createOllamaAdapter,
};

export function createAdapter(config: ProviderConfig): ProviderAdapter {
  return factories[config.type](config);
}
export { createKeyProbe, type KeyProbe, probeVerdict } from './key-probe.js';
