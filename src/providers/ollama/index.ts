import { UnsupportedFeature } from '../../canonical/model.js';
import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import { baseHeaders, basePath, upstreamBody } from '../openai/index.js';
import type { ChatCodec, ProviderAdapter, UpstreamCall } from '../types.js';
import { decodeOllamaResponse, encodeOllamaRequest, readOllamaUsage } from './codec.js';
import { OllamaStreamDecoder } from './stream.js';

/**
 * Ollama through its native API: chat on `/api/chat`, embeddings on its OpenAI-compatible
 * `/v1/embeddings` (the gateway's one embeddings format). `baseUrl` is the server root, such as
 * `http://localhost:11434`; a base path ending in `/v1`, as configs written when Ollama was served
 * through its OpenAI-compatible endpoint have it, is taken as the root above it. Ollama needs no
 * key; one that is configured (Ollama behind an authenticating proxy) goes out as a bearer token.
 */
export function createOllamaAdapter(config: ProviderConfig): ProviderAdapter {
  const root = basePath(config).replace(/\/v1$/, '');
  const headers = baseHeaders(config);
  const withKey = (key: SecretString | undefined): Record<string, string> =>
    key ? { ...headers, authorization: `Bearer ${key.reveal()}` } : headers;
  const chat: ChatCodec = {
    encodeRequest: (request) => ({
      path: `${root}/api/chat`,
      body: JSON.stringify(encodeOllamaRequest(request)),
    }),
    decodeResponse: decodeOllamaResponse,
    streamDecoder: () => new OllamaStreamDecoder(),
  };
  return {
    type: config.type,
    format: 'ollama',
    requiresKey: false,
    chat,
    readUsage: readOllamaUsage,
    buildCall(operation, model, body, key): UpstreamCall {
      if (operation === 'embeddings') {
        return {
          path: `${root}/v1/embeddings`,
          headers: withKey(key),
          body: upstreamBody(operation, body, model, false),
        };
      }
      // Chat bodies in Ollama's own format would come from an Ollama surface, and there is none.
      if (operation === 'chat') throw new Error('no Ollama surface');
      throw new UnsupportedFeature('This provider cannot count tokens', 'model');
    },
    buildChatCall(request, key): UpstreamCall {
      return { ...chat.encodeRequest(request), headers: withKey(key) };
    },
  };
}
