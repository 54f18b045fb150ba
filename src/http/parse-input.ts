import type { z } from 'zod';
import { badRequest, emptyBody } from '../errors/gateway-error.js';
import { describeIssue, leadingIssue, PARSE_OPTIONS } from '../surfaces/zod-issue.js';

/** Validates an admin API body, query or params; the first problem becomes a 400 naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value, PARSE_OPTIONS);
  if (result.success) return result.data;
  if (value === undefined) throw emptyBody();
  const { message, param, code } = describeIssue(leadingIssue(result.error.issues));
  throw badRequest(message, { param, code });
}

/**
 * The refinement that a query's `start` is not after its `end` when both are given, reported on
 * `start`: `.refine(...inOrder('from', 'to'))`.
 */
export function inOrder<K extends string>(
  start: K,
  end: K,
): [(query: Partial<Record<K, string | number>>) => boolean, { path: PropertyKey[]; message: string }] {
  return [
    (query) => query[start] === undefined || query[end] === undefined || query[start] <= query[end],
    { path: [start], message: `must not be after '${end}'` },
  ];
}
