import { z } from 'zod';

/**
 * Retention of server-side conversation state (Responses and Conversations API). Stored responses
 * and conversations older than `ttlDays` are purged (as OpenAI keeps responses 30 days); a
 * conversation keeps at most its newest `maxItems` items and `maxBytes` of item content.
 * `contextTokens` is the context window a Responses request with its replayed history must fit
 * (`truncation`), estimated before the request is sent.
 */
export const conversationsSchema = z
  .strictObject({
    ttlDays: z.number().int().min(1).max(3650).default(30),
    maxItems: z.number().int().min(1).max(1_000_000).default(10_000),
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(64 * 1024 * 1024),
    contextTokens: z.number().int().min(1024).max(10_000_000).default(200_000),
  })
  .prefault({});

export type ConversationsConfig = z.infer<typeof conversationsSchema>;
