import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import { createOpenAIChatCodec } from '../openai/codec.js';
import { baseHeaders, basePath, openAIPath, readOpenAIUsage, upstreamBody } from '../openai/index.js';
import type { ProviderAdapter } from '../types.js';

/**
 * Azure OpenAI: the model is chosen by the deployment in the URL, the version by `api-version`,
 * and the key travels in the `api-key` header. `baseUrl` is `https://<resource>.openai.azure.com/openai`.
 */
export function createAzureOpenAIAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const headers = baseHeaders(config);
  const query = `?api-version=${encodeURIComponent(config.apiVersion ?? '')}`;
  const deployments = config.deployments ?? {};
  const pathFor = (model: string, path: string) =>
    `${prefix}/deployments/${encodeURIComponent(deployments[model] ?? model)}${path}${query}`;
  const withKey = (key: SecretString | undefined) =>
    key ? { ...headers, 'api-key': key.reveal() } : headers;
  const chat = createOpenAIChatCodec({
    pathFor: (model) => pathFor(model, '/chat/completions'),
    streamUsage: true,
    maxTokensField: 'max_completion_tokens',
  });
  return {
    type: config.type,
    format: 'openai',
    requiresKey: true,
    readUsage: readOpenAIUsage,
    chat,
    buildCall(operation, model, body, key) {
      return {
        path: pathFor(model, openAIPath(operation)),
        headers: withKey(key),
        body: upstreamBody(operation, body, model, true),
      };
    },
    buildChatCall(request, key) {
      return { ...chat.encodeRequest(request), headers: withKey(key) };
    },
  };
}
