import { z } from 'zod';

/**
 * The OpenAI embeddings request body. The API's limits: at most 2048 inputs per request, no empty
 * string, at most 8192 tokens per input (for every current embedding model), so a token-id array
 * longer than that can never be valid.
 */
const MAX_INPUTS = 2048;
const MAX_TOKENS_PER_INPUT = 8192;

const text = z.string().min(1);
const tokenIds = z.array(z.number().int().min(0)).min(1).max(MAX_TOKENS_PER_INPUT);

export const embeddingsRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  // Strings first: they are what nearly every client sends.
  input: z.union([
    text,
    z.array(text).min(1).max(MAX_INPUTS),
    tokenIds,
    z.array(tokenIds).min(1).max(MAX_INPUTS),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  /** Only `text-embedding-3` and later; the bound is ours, far above any model's size. */
  dimensions: z.number().int().min(1).max(65_536).optional(),
  user: z.string().max(256).optional(),
});

export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;
