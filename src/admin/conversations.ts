import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUDIT_ACTORS, AUDIT_EVENTS, type AuditSink, recordEvent } from '../audit/index.js';
import { plainText } from '../auth/index.js';
import { userOwner } from '../conversations/owner.js';
import type { ConversationService } from '../conversations/service.js';
import { GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';
import { READS_QUERY } from '../http/query-rule.js';

const byUser = z.strictObject({ user: plainText(128) });
/** Purging takes no field: `{user}` was ignored and purged what had expired for everyone. */
const nothing = z.strictObject({}).optional();
/** The ids Keyward gives responses and conversations; anything else names no record. */
const recordId = z.strictObject({
  id: z
    .string()
    .regex(/^(?:resp|conv)_[A-Za-z0-9]{1,128}$/, 'a response or conversation id (resp_… or conv_…)'),
});

/**
 * The operator's view of conversation state, by user: list (ids and times only), export (the
 * user's content as JSON, for an access request), delete, and purge what retention has expired.
 * Everything but the listing reads or destroys a user's content, so each is audited (ids and
 * counts only, never the content).
 */
export function adminConversationRoutes(
  app: FastifyInstance,
  { conversations, audit }: { conversations: ConversationService; audit: AuditSink },
): void {
  const record = (request: FastifyRequest, action: string, target: string, count?: number) =>
    recordEvent(audit, AUDIT_EVENTS.adminAction, request.adminActor?.id ?? AUDIT_ACTORS.admin, {
      action,
      target,
      ...(count === undefined ? {} : { detail: { count } }),
    });

  app.get('/admin/conversations', READS_QUERY, async (request) => {
    const { user } = parseInput(byUser, request.query);
    return { user, records: await conversations.listOwner(userOwner(user)) };
  });

  app.get('/admin/conversations/export', READS_QUERY, async (request) => {
    const { user } = parseInput(byUser, request.query);
    const records = await conversations.exportOwner(userOwner(user));
    record(request, 'conversations.exported', user, records.length);
    return { user, records };
  });

  app.delete('/admin/conversations', READS_QUERY, async (request) => {
    const { user } = parseInput(byUser, request.query);
    const deleted = await conversations.deleteOwner(userOwner(user));
    record(request, 'conversations.deleted', user, deleted);
    return { user, deleted };
  });

  app.delete('/admin/conversations/:id', async (request) => {
    const { id } = parseInput(recordId, request.params);
    if (!(await conversations.deleteAny(id)))
      throw new GatewayError(404, 'not_found_error', 'No response or conversation has that id', {
        code: 'not_found',
      });
    record(request, 'conversation.deleted', id);
    return { id, deleted: true };
  });

  app.post('/admin/conversations/purge', async (request) => {
    parseInput(nothing, request.body ?? undefined);
    const purged = await conversations.purgeExpired();
    record(request, 'conversations.purged', 'expired', purged);
    return { purged };
  });
}
