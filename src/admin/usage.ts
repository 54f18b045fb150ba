import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { plainText } from '../auth/index.js';
import { inOrder, parseInput } from '../http/parse-input.js';
import { READS_QUERY } from '../http/query-rule.js';
import type { Store } from '../store/index.js';

/** Whether `text` (YYYY-MM-DD) names a day of the calendar: `2026-02-30` does not. */
const isCalendarDay = (text: string): boolean => {
  const ms = Date.parse(`${text}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().startsWith(text);
};

/** Days are compared as text in the store: one that names no day matched nothing and answered 200. */
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a date as YYYY-MM-DD')
  .refine(isCalendarDay, 'must be a calendar date (YYYY-MM-DD)');
const usageQuery = z
  .strictObject({
    by: z.enum(['token', 'user', 'model', 'day', 'template']).default('day'),
    from: day.optional(),
    to: day.optional(),
    tokenId: plainText(64).optional(),
    userId: plainText(128).optional(),
  })
  .refine(...inOrder('from', 'to'));

/** `GET /admin/usage?by=token|user|model|day`: requests, tokens and cost, aggregated. */
export function adminUsageRoutes(
  app: FastifyInstance,
  { store, written }: { store: Store; written(): Promise<void> },
): void {
  app.get('/admin/usage', READS_QUERY, async (request) => {
    const { by, ...filter } = parseInput(usageQuery, request.query);
    // What is still in memory is written first, so that the answer includes the latest requests.
    await written();
    const rows = await store.usage.query(by, filter);
    return {
      by,
      rows: rows.map((row) => ({
        ...row,
        group: row.group === '' ? null : row.group,
        costUsd: row.costMicros / 1e6,
      })),
    };
  });
}
