import type { ProviderConfig } from '../../config/index.js';
import type { SecretString } from '../../keys/index.js';
import { baseHeaders, basePath } from '../openai/index.js';
import type { ChatCodec, ProviderAdapter, UpstreamCall } from '../types.js';
import { tokenCount } from '../wire-values.js';
import { decodeGeminiResponse, encodeGeminiRequest, readGeminiUsage } from './codec.js';
import {
  decodeGeminiEmbeddings,
  type EmbeddingsBody,
  encodeGeminiEmbeddings,
  MAX_BATCH,
} from './embeddings.js';
import { withoutForeignSignatures } from './passthrough.js';
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
    streamDecoder: (model) => new GeminiStreamDecoder(model),
  };
  return {
    type: config.type,
    format: 'gemini',
    requiresKey: true,
    chat,
    readUsage: readGeminiUsage,
    buildCall(operation, model, body, key, options): UpstreamCall {
      if (operation === 'embeddings') {
        const call = encodeGeminiEmbeddings(
          body as unknown as EmbeddingsBody,
          `models/${model}`,
          options?.embedding,
        );
        return {
          path: modelPath(model, call.method),
          headers: withKey(key),
          body: JSON.stringify(call.body),
        };
      }
      // The Gemini surface's body: Gemini's own, with the model and the stream flag beside it, and
      // maybe another format's signatures, which Gemini refuses (see withoutForeignSignatures).
      const { model: _model, stream, ...sent } = body;
      const request = withoutForeignSignatures(sent, model);
      if (operation === 'count_tokens') {
        const whole = Object.keys(request).some((field) => field !== 'contents');
        return {
          path: modelPath(model, 'countTokens'),
          headers: withKey(key),
          body: JSON.stringify(
            whole ? { generateContentRequest: { model: `models/${model}`, ...request } } : request,
          ),
        };
      }
      return {
        path: modelPath(model, stream === true ? 'streamGenerateContent?alt=sse' : 'generateContent'),
        headers: withKey(key),
        body: JSON.stringify(request),
      };
    },
    maxEmbeddingInputs: MAX_BATCH,
    embeddingsAnswer(payload, body, model) {
      const answer = { ...decodeGeminiEmbeddings(payload, body as unknown as EmbeddingsBody), model };
      return { answer, usage: { inputTokens: answer.usage.prompt_tokens, outputTokens: 0 } };
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
      return tokenCount((payload as { totalTokens?: unknown } | null)?.totalTokens);
    },
  };
}
