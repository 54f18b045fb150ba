import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { plainText } from '../auth/index.js';
import { inOrder, parseInput } from '../http/parse-input.js';
import { READS_QUERY } from '../http/query-rule.js';
import type { Store } from '../store/index.js';

/** A time as epoch milliseconds; a date (`2026-01-01`) said only "expected number" before. */
const epochMs = z
  .string()
  .regex(/^\d{1,15}$/, 'epoch milliseconds, such as 1767225600000')
  .transform(Number);
const auditQuery = z
  .strictObject({
    afterSeq: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    type: plainText(64).optional(),
    actor: plainText(128).optional(),
    since: epochMs.optional(),
    until: epochMs.optional(),
  })
  .refine(...inOrder('since', 'until'));

/** `GET /admin/audit?afterSeq=&limit=&type=&actor=&since=&until=` (times in epoch ms): the audit records, oldest first. */
export function adminAuditRoutes(
  app: FastifyInstance,
  { store, written }: { store: Store; written(): Promise<void> },
): void {
  app.get('/admin/audit', READS_QUERY, async (request) => {
    const query = parseInput(auditQuery, request.query);
    // Records still queued in memory (any worker's) are written first.
    await written();
    const records = await store.audit.list(query);
    return { records, nextAfterSeq: records.at(-1)?.seq ?? query.afterSeq ?? 0 };
  });
}
