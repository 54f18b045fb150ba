import { UnsupportedFeature } from '../../canonical/model.js';
import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import { baseHeaders, basePath } from '../openai/index.js';
import type { ChatCodec, ProviderAdapter, UpstreamCall } from '../types.js';
import { decodeGeminiResponse, encodeGeminiRequest, readGeminiUsage } from './codec.js';
import { GeminiStreamDecoder } from './stream.js';

/**
 * Google's Gemini API (`generateContent`). `baseUrl` is `https://generativelanguage.googleapis.com/v1beta`.
 * The key goes only in the `x-goog-api-key` header: Gemini also takes it as a `key=` query
 * parameter, but URLs end up in logs and traces.
 */
export function createGeminiAdapter(config: ProviderConfig): ProviderAdapter {
  const prefix = basePath(config);
  const headers = baseHeaders(config);
  const withKey = (key: SecretString | undefined): Record<string, string> =>
    key ? { ...headers, 'x-goog-api-key': key.reveal() } : headers;
  const modelPath = (model: string, method: string) =>
    `${prefix}/models/${encodeURIComponent(model)}:${method}`;
  const chat: ChatCodec = {
    encodeRequest: (request) => ({
      path: modelPath(request.model, request.stream ? 'streamGenerateContent?alt=sse' : 'generateContent'),
      body: JSON.stringify(encodeGeminiRequest(request)),
    }),
    decodeResponse: decodeGeminiResponse,
    streamDecoder: () => new GeminiStreamDecoder(),
  };
  return {
    type: config.type,
    format: 'gemini',
    requiresKey: true,
    chat,
    readUsage: readGeminiUsage,
    buildCall(operation): UpstreamCall {
      if (operation === 'embeddings') {
        throw new UnsupportedFeature('Embeddings are not available for Gemini providers yet', 'model');
      }
      // Bodies in Gemini's own format would come from a Gemini surface, and there is none.
      throw new Error('no Gemini surface');
    },
    buildChatCall(request, key): UpstreamCall {
      return { ...chat.encodeRequest(request), headers: withKey(key) };
    },
    /** countTokens takes the whole generateContent request, so tools and system count too. */
    buildCountTokensCall(request, key): UpstreamCall {
      const { contents, systemInstruction, tools } = encodeGeminiRequest(request);
      return {
        path: modelPath(request.model, 'countTokens'),
        headers: withKey(key),
        body: JSON.stringify({
          generateContentRequest: { model: `models/${request.model}`, contents, systemInstruction, tools },
        }),
      };
    },
    readTokenCount(payload) {
      const total = (payload as { totalTokens?: unknown } | null)?.totalTokens;
      return typeof total === 'number' && Number.isFinite(total) ? total : undefined;
    },
  };
}
