import type { ProviderConfig } from '../config/index.js';
import { baseHeaders, basePath, readOpenAIUsage, upstreamBody } from './openai.js';
import type { Operation, ProviderAdapter } from './types.js';

const PATHS: Record<Operation, string> = { chat: 'chat/completions', embeddings: 'embeddings' };

/**
 * Azure OpenAI: the model is chosen by the deployment in the URL, the version by `api-version`,
 * and the key travels in the `api-key` header. `baseUrl` is `https://<resource>.openai.azure.com/openai`.
 */
export function createAzureOpenAIAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const headers = baseHeaders(config);
  const query = `?api-version=${encodeURIComponent(config.apiVersion ?? '')}`;
  const deployments = config.deployments ?? {};
  return {
    type: config.type,
    requiresKey: true,
    readUsage: readOpenAIUsage,
    buildCall(operation, model, body, key) {
      const deployment = encodeURIComponent(deployments[model] ?? model);
      return {
        path: `${prefix}/deployments/${deployment}/${PATHS[operation]}${query}`,
        headers: key ? { ...headers, 'api-key': key.reveal() } : headers,
        body: upstreamBody(operation, body, model, true),
      };
    },
  };
}
