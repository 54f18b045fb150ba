import type { z } from 'zod';
import { badRequest, emptyBody } from '../errors/gateway-error.js';
import { describeIssue, leadingIssue, PARSE_OPTIONS } from './zod-issue.js';

/**
 * Validates a parsed JSON body against a surface schema. On failure it throws a 400 naming the
 * first issue only: one clear fix at a time, and the same answer for the same body.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined) throw emptyBody();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('Request body must be a JSON object', { code: 'invalid_body' });
  }
  const result = schema.safeParse(body, PARSE_OPTIONS);
  if (result.success) return result.data;
  const { message, param, code } = describeIssue(leadingIssue(result.error.issues));
  throw badRequest(message, { param, code });
}
