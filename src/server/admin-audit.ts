import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../audit/index.js';
import type { Store } from '../store/index.js';
import { describeIssue, PARSE_OPTIONS } from '../surfaces/zod-issue.js';
import { badRequest } from './errors.js';

const auditQuery = z.strictObject({
  afterSeq: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  type: z.string().min(1).max(64).optional(),
  actor: z.string().min(1).max(128).optional(),
});

/** `GET /admin/audit?afterSeq=&limit=&type=&actor=`: the audit records, oldest first. */
export function adminAuditRoutes(
  app: FastifyInstance,
  { store, audit }: { store: Store; audit: AuditLog },
): void {
  app.get('/admin/audit', async (request) => {
    const result = auditQuery.safeParse(request.query, PARSE_OPTIONS);
    if (!result.success) {
      const { message, param, code } = describeIssue(result.error.issues[0]!);
      throw badRequest(message, { param, code });
    }
    await audit.flush();
    const records = await store.audit.list(result.data);
    return { records, nextAfterSeq: records.at(-1)?.seq ?? result.data.afterSeq ?? 0 };
  });
}
