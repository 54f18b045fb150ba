import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { requireScope } from '../../auth/access.js';
import { type ConversationService, type Item, ownerOf, storedLimit } from '../../conversations/index.js';
import { badRequest } from '../../errors/gateway-error.js';
import { parseBody } from '../parse-body.js';
import { newId } from './items.js';
import { refuseUnofferedItems } from './refusals.js';
import { inputItemSchema } from './schema.js';
import { normaliseInput, notFound } from './turn.js';
import { parsePageQuery } from './validate.js';

/** The API takes at most 20 items per call. */
const MAX_ITEMS_PER_CALL = 20;
const metadata = z
  .record(z.string().max(64), z.string().max(512))
  .refine((m) => Object.keys(m).length <= 16, { message: 'metadata has at most 16 keys' });
const items = z.array(inputItemSchema).max(MAX_ITEMS_PER_CALL);
const createSchema = z.strictObject({
  items: items.nullable().optional(),
  metadata: metadata.nullable().optional(),
});
const updateSchema = z.strictObject({ metadata: metadata.nullable() });
const itemsSchema = z.strictObject({ items });

type ById = FastifyRequest<{ Params: { id: string } }>;
type ByItem = FastifyRequest<{ Params: { id: string; itemId: string } }>;

function caller(request: FastifyRequest): string {
  requireScope(request.kw.principal, 'chat');
  return ownerOf(request.kw.principal);
}

/**
 * Refuses items holding a tool result whose call neither the conversation (`id`, empty when it is
 * being created) nor an earlier item holds. OpenAI takes any item here, and fails the conversation's
 * next turn instead; every provider Keyward replays to refuses such a result too (Gemini cannot
 * even name its tool), so each later turn would fail until the client found and deleted it.
 */
async function refuseUnanswered(
  conversations: ConversationService,
  id: string,
  items: readonly Item[],
): Promise<void> {
  const at = await conversations.unansweredResult(id, items);
  if (at === undefined) return;
  const item = items[at] as Extract<Item, { type: 'function_call_output' | 'custom_tool_call_output' }>;
  const call = item.type === 'function_call_output' ? 'function_call' : 'custom_tool_call';
  throw badRequest(
    `No tool call found for the ${item.type} with call_id '${item.call_id}'; add its ${call} first`,
    { param: `items[${at}]`, code: 'function_call_not_found' },
  );
}

/**
 * The OpenAI Conversations API: server-side history, sealed at rest, per owner. Someone else's
 * conversation (or item) is answered 404, as one that does not exist.
 */
export async function conversationRoutes(
  app: FastifyInstance,
  { conversations, bodyLimit }: { conversations: ConversationService; bodyLimit: number },
): Promise<void> {
  const missing = (id: string) => notFound('conversation', id);

  app.post('/v1/conversations', async (request) => {
    const owner = caller(request);
    const body = parseBody(createSchema, request.body ?? {});
    refuseUnofferedItems(body.items ?? [], 'items');
    const room = await conversations.holdRoom(owner, storedLimit(request.kw.principal));
    try {
      const id = newId('conv');
      const items = body.items?.length
        ? (await normaliseInput(conversations, owner, body.items, bodyLimit)).items
        : [];
      await refuseUnanswered(conversations, id, items);
      return await conversations.createConversation(owner, body.metadata ?? {}, id, items);
    } finally {
      // Stored (or refused) by now: counted from here on as a record, or not at all.
      room?.end();
    }
  });

  app.get('/v1/conversations/:id', async (request: ById) => {
    const found = await conversations.getConversation(caller(request), request.params.id);
    if (!found) throw missing(request.params.id);
    return found;
  });

  app.post('/v1/conversations/:id', async (request: ById) => {
    const owner = caller(request);
    const body = parseBody(updateSchema, request.body);
    const updated = await conversations.updateConversation(owner, request.params.id, body.metadata ?? {});
    if (!updated) throw missing(request.params.id);
    return updated;
  });

  app.delete('/v1/conversations/:id', async (request: ById) => {
    const { id } = request.params;
    if (!(await conversations.deleteConversation(caller(request), id))) throw missing(id);
    return { id, object: 'conversation.deleted', deleted: true };
  });

  app.get('/v1/conversations/:id/items', async (request: ById) => {
    const page = await conversations.listItems(
      caller(request),
      request.params.id,
      parsePageQuery(request.query),
    );
    if (!page) throw missing(request.params.id);
    return page;
  });

  app.post('/v1/conversations/:id/items', async (request: ById) => {
    const owner = caller(request);
    const body = parseBody(itemsSchema, request.body);
    refuseUnofferedItems(body.items, 'items');
    if (!(await conversations.getConversation(owner, request.params.id))) throw missing(request.params.id);
    const { items: sent } = await normaliseInput(conversations, owner, body.items, bodyLimit);
    await refuseUnanswered(conversations, request.params.id, sent);
    // As stored: an item whose id the conversation holds already has one of its own.
    const added = await conversations.appendItems(owner, request.params.id, sent);
    if (!added) throw missing(request.params.id);
    return {
      object: 'list',
      data: added,
      first_id: added[0]?.id ?? null,
      last_id: added.at(-1)?.id ?? null,
      has_more: false,
    };
  });

  app.get('/v1/conversations/:id/items/:itemId', async (request: ByItem) => {
    const { id, itemId } = request.params;
    const item = await conversations.getItem(caller(request), id, itemId);
    if (!item) throw notFound('item', itemId);
    return item;
  });

  app.delete('/v1/conversations/:id/items/:itemId', async (request: ByItem) => {
    const owner = caller(request);
    const { id, itemId } = request.params;
    if (!(await conversations.deleteItem(owner, id, itemId))) throw notFound('item', itemId);
    const conversation = await conversations.getConversation(owner, id);
    if (!conversation) throw missing(id);
    return conversation;
  });
}
