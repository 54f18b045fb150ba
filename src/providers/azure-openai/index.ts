import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import { createOpenAIChatCodec, OPENAI_STOP_SEQUENCES } from '../openai/codec.js';
import {
  baseHeaders,
  basePath,
  openAIPath,
  readOpenAIUsage,
  upstreamBody,
  withoutUntakenTemperature,
} from '../openai/index.js';
import type { Operation, ProviderAdapter } from '../types.js';

const API_VERSION = /^(\d{4}-\d{2}-\d{2})(-preview)?$/;

/**
 * Whether an `api-version` takes `stream_options` and `max_completion_tokens`: both came with
 * 2024-09-01-preview, and in GA with 2024-10-21. Older versions refuse them as unrecognized
 * arguments, and know the output limit as `max_tokens` only.
 */
export function takesStreamOptions(apiVersion: string): boolean {
  const [, date, preview] = API_VERSION.exec(apiVersion) ?? [];
  // The configuration admits dated versions only; anything else is taken as current.
  if (date === undefined) return true;
  return date >= (preview ? '2024-09-01' : '2024-10-21');
}

/** A client's `max_completion_tokens` as the `max_tokens` an older api-version knows. */
function withMaxTokens(operation: Operation, body: Record<string, unknown>): Record<string, unknown> {
  if (operation !== 'chat' || body.max_completion_tokens === undefined || body.max_tokens !== undefined) {
    return body;
  }
  const { max_completion_tokens: limit, ...rest } = body;
  return { ...rest, max_tokens: limit };
}

/**
 * Azure OpenAI: the model is chosen by the deployment in the URL, the version by `api-version`,
 * and the key travels in the `api-key` header. `baseUrl` is `https://<resource>.openai.azure.com/openai`.
 * A stream's usage is asked for where the version takes `stream_options`; on older versions a
 * stream reports none and is charged its reservation, as every answer without usage is.
 */
export function createAzureOpenAIAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const headers = baseHeaders(config);
  const query = `?api-version=${encodeURIComponent(config.apiVersion ?? '')}`;
  const current = takesStreamOptions(config.apiVersion ?? '');
  const deployments = config.deployments ?? {};
  const pathFor = (model: string, path: string) =>
    `${prefix}/deployments/${encodeURIComponent(Object.hasOwn(deployments, model) ? deployments[model]! : model)}${path}${query}`;
  const withKey = (key: SecretString | undefined) =>
    key ? { ...headers, 'api-key': key.reveal() } : headers;
  const chat = createOpenAIChatCodec({
    pathFor: (model) => pathFor(model, '/chat/completions'),
    streamUsage: current,
    maxTokensField: current ? 'max_completion_tokens' : 'max_tokens',
    customTools: true,
    maxStopSequences: OPENAI_STOP_SEQUENCES,
    openAIServer: true,
  });
  return {
    type: config.type,
    format: 'openai',
    requiresKey: true,
    readUsage: readOpenAIUsage,
    chat,
    buildCall(operation, model, body, key, options) {
      // The model's name, not its deployment's, says what it refuses.
      const taken = options?.temperatureIsDefault ? withoutUntakenTemperature(body, model) : body;
      return {
        path: pathFor(model, openAIPath(operation)),
        headers: withKey(key),
        body: upstreamBody(operation, current ? taken : withMaxTokens(operation, taken), model, current),
      };
    },
    buildChatCall(request, key) {
      return { ...chat.encodeRequest(request), headers: withKey(key) };
    },
  };
}
