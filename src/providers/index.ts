import type { ProviderConfig, ProviderType } from '../config/index.js';
import { createAzureOpenAIAdapter } from './azure-openai.js';
import { createOpenAIAdapter } from './openai.js';
import type { AdapterFactory, ProviderAdapter } from './types.js';

export type { Operation, ProviderAdapter, UpstreamCall, Usage } from './types.js';

/** One line per provider type: adding a provider is a module plus its registration here. */
const factories: Record<ProviderType, AdapterFactory> = {
  openai: createOpenAIAdapter,
  'openai-compatible': createOpenAIAdapter,
  ollama: createOpenAIAdapter,
  'azure-openai': createAzureOpenAIAdapter,
};

export function createAdapter(config: ProviderConfig): ProviderAdapter {
  return factories[config.type](config);
}
