import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { userOwner } from '../conversations/owner.js';
import type { ConversationService } from '../conversations/service.js';
import { GatewayError } from '../errors/gateway-error.js';
import { parseInput } from '../http/parse-input.js';

const byUser = z.strictObject({ user: z.string().min(1).max(128) });

/**
 * The operator's view of conversation state, by user: list (ids and times only), export (the
 * user's content as JSON, for an access request), delete, and purge what retention has expired.
 */
export function adminConversationRoutes(
  app: FastifyInstance,
  { conversations }: { conversations: ConversationService },
): void {
  app.get('/admin/conversations', async (request) => {
    const { user } = parseInput(byUser, request.query);
    return { user, records: await conversations.listOwner(userOwner(user)) };
  });

  app.get('/admin/conversations/export', async (request) => {
    const { user } = parseInput(byUser, request.query);
    return { user, records: await conversations.exportOwner(userOwner(user)) };
  });

  app.delete('/admin/conversations', async (request) => {
    const { user } = parseInput(byUser, request.query);
    return { user, deleted: await conversations.deleteOwner(userOwner(user)) };
  });

  app.delete('/admin/conversations/:id', async (request: FastifyRequest<{ Params: { id: string } }>) => {
    const { id } = request.params;
    if (!(await conversations.deleteAny(id)))
      throw new GatewayError(404, 'not_found_error', `No response or conversation with id '${id}'`, {
        code: 'not_found',
      });
    return { id, deleted: true };
  });

  app.post('/admin/conversations/purge', async () => ({ purged: await conversations.purgeExpired() }));
}
