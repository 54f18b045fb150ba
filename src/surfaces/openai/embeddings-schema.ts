import { z } from 'zod';

/** OpenAI's documented limit on inputs per embeddings request. */
const MAX_INPUTS = 2048;
const tokenIds = z.array(z.number().int().min(0)).min(1).max(1_000_000);

export const embeddingsRequestSchema = z.strictObject({
  model: z.string().min(1).max(256),
  input: z.union([
    z.string().min(1),
    z.array(z.string().min(1)).min(1).max(MAX_INPUTS),
    tokenIds,
    z.array(tokenIds).min(1).max(MAX_INPUTS),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().min(1).max(65_536).optional(),
  user: z.string().max(256).optional(),
});

export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;
