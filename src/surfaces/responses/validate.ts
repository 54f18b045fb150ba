import { z } from 'zod';
import { isPlainText, type Principal } from '../../auth/index.js';
import { badRequest } from '../../errors/gateway-error.js';
import { parseBody } from '../parse-body.js';
import { refuseUnoffered } from './refusals.js';
import { INCLUDABLE, type ResponsesRequest, responsesRequestSchema } from './schema.js';

export function parseResponsesRequest(body: unknown): ResponsesRequest {
  const parsed = parseBody(responsesRequestSchema, body);
  refuseUnoffered(parsed);
  return parsed;
}

/** Holds `max_output_tokens` to the token's cap; a missing one is set to the cap. */
export function capOutputTokens(principal: Principal | undefined, body: ResponsesRequest): ResponsesRequest {
  if (principal?.kind !== 'token' || principal.record.maxTokens === null) return body;
  const cap = principal.record.maxTokens;
  const asked = body.max_output_tokens;
  if (asked == null) return { ...body, max_output_tokens: cap };
  if (asked > cap)
    throw badRequest(`This token allows at most ${cap} output tokens`, {
      param: 'max_output_tokens',
      code: 'max_tokens_exceeded',
    });
  return body;
}

/** One value (`include=a`) or several (`include=a&include=b`), as the query string parser gives them. */
const includes = z.union([z.enum(INCLUDABLE), z.array(z.enum(INCLUDABLE)).max(INCLUDABLE.length)]).optional();

const pageQuery = z.strictObject({
  after: z.string().min(1).max(256).refine(isPlainText, 'must be an item id').optional(),
  limit: z.coerce.number().int().min(1).max(100).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  include: includes,
  // The official SDKs write arrays in brackets: `include[]=a&include[]=b`.
  'include[]': includes,
});

/**
 * `after`, `limit` (1–100) and `order` of a list route. `include`, either way it is written, is
 * checked and changes nothing: stored items carry their image URLs and encrypted reasoning
 * already, and never hold the rest of what it can name (hosted tools' results, logprobs).
 */
export function parsePageQuery(query: unknown): z.infer<typeof pageQuery> {
  return parseBody(pageQuery, query ?? {});
}
