import { parseBody } from '../parse-body.js';
import { type ChatCompletionRequest, chatCompletionRequestSchema } from './chat-schema.js';
import { type EmbeddingsRequest, embeddingsRequestSchema } from './embeddings-schema.js';

export function parseChatRequest(body: unknown): ChatCompletionRequest {
  return parseBody(chatCompletionRequestSchema, body);
}

export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  return parseBody(embeddingsRequestSchema, body);
}
