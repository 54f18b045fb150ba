import type { z } from 'zod';
import { badRequest } from '../../server/errors.js';
import { describeIssue } from '../zod-issue.js';
import { type ChatCompletionRequest, chatCompletionRequestSchema } from './chat-schema.js';
import { type EmbeddingsRequest, embeddingsRequestSchema } from './embeddings-schema.js';

function parseWith<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('Request body must be a JSON object', { code: 'invalid_body' });
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const { message, param, code } = describeIssue(result.error.issues[0]!, body);
  throw badRequest(message, { param, code });
}

export function parseChatRequest(body: unknown): ChatCompletionRequest {
  return parseWith(chatCompletionRequestSchema, body);
}

export function parseEmbeddingsRequest(body: unknown): EmbeddingsRequest {
  return parseWith(embeddingsRequestSchema, body);
}
