import type { FastifyReply } from 'fastify';
import { type ConversationService, type HeldTurn, replayableItems } from '../../conversations/index.js';
import { badRequest, GatewayError } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/index.js';
import { type Item, newId, normaliseItem, replayedBytes } from './items.js';
import type { ResponsesRequest } from './schema.js';
import type { ItemOrigin } from './to-canonical.js';
import { historyLimit } from './truncation.js';

/**
 * A held turn's end (`HeldTurn.end`) as its binding's `beforeEnd` calls it, with the store's
 * failure logged and passed on: the end of the answer is then the surface's error instead of its
 * success. The first call decides; later ones answer its promise, so the failure is logged once.
 */
export function turnEnd(
  held: HeldTurn,
  conversation: string,
  logger: Logger,
): (items: Item[] | undefined) => Promise<void> {
  let ending: Promise<void> | undefined;
  return (items) =>
    (ending ??= held.end(items).catch((error: unknown) => {
      const err = error instanceof Error && error.cause !== undefined ? error.cause : error;
      logger.error({ err, conversation }, 'cannot store a conversation turn');
      throw error;
    }));
}

/** One request's place in a conversation: what came before it and what it adds. */
export interface Turn {
  owner: string;
  id: string;
  /** Replayed in front of the input: the previous responses' items, or the conversation's. */
  history: Item[];
  /** This request's input items, normalised (ids given, references resolved). */
  input: Item[];
  /** JSON bytes the input's `item_reference`s brought in: sent upstream, absent from the body. */
  referencedBytes: number;
  /** The stored items those references brought in, one for each reference. */
  referenced: Item[];
  conversationId: string | null;
  /** The conversation held for this turn, which its end appends to and frees. */
  held?: HeldTurn;
  origin: ItemOrigin;
}

export const notFound = (what: string, id: string, param: string | null = null): GatewayError =>
  new GatewayError(404, 'not_found_error', `No ${what} found with id '${id}'`, { code: 'not_found', param });

/** Calls `done` once the response is over, however it ends (now if the client is gone already). */
export function whenOver(reply: FastifyReply, done: () => void): void {
  // A client already gone will not close the response again: done now, or never.
  if (reply.raw.closed) done();
  else reply.raw.once('close', done);
}

/**
 * Holds the owner's conversation `id` for this request's turn and loads its history (no further
 * back than the context window could take, `historyLimit`). The turn's end (`HeldTurn.end`, which
 * its binding calls before the end of the answer goes out) frees it, or at the latest the response
 * closing, however it ends. A second turn meanwhile is refused as OpenAI refuses it (400
 * `conversation_locked`); another owner's id, or one that is gone, is a 404 naming `param`.
 */
export async function heldConversation(
  service: ConversationService,
  owner: string,
  id: string,
  param: string,
  reply: FastifyReply,
): Promise<{ history: Item[]; held: HeldTurn }> {
  const held = await service.beginTurn(owner, id);
  if (held === 'missing') throw notFound('conversation', id, param);
  if (held === 'locked')
    throw badRequest(
      'Another request is currently operating on this conversation; retry when it has finished',
      {
        param,
        code: 'conversation_locked',
      },
    );
  // A release that fails leaves the hold to lapse on its own.
  whenOver(reply, () => held.end().catch(() => {}));
  const history = await service.conversationItems(owner, id, historyLimit(service.contextTokens));
  if (!history) throw notFound('conversation', id, param);
  // A call or a result deleted from the conversation leaves the other, which providers refuse.
  return { history: replayableItems(history), held };
}

/**
 * Loads the history a request continues and normalises its input. A previous response or
 * conversation that is not the caller's is answered exactly like one that does not exist.
 */
/** Whether `prepareTurn` reads stored items for `body`: a history to replay, or items it references. */
export function readsStoredItems(body: ResponsesRequest): boolean {
  return (
    body.previous_response_id != null ||
    body.conversation != null ||
    (Array.isArray(body.input) && body.input.some((item) => item.type === 'item_reference'))
  );
}

export async function prepareTurn(
  service: ConversationService,
  owner: string,
  body: ResponsesRequest,
  /** The most bytes the input's references may bring in (the body limit). */
  maxReferencedBytes: number,
  /** The response: a conversation is held for the turn until it is over. */
  reply: FastifyReply,
): Promise<Turn> {
  const conversationId =
    typeof body.conversation === 'string' ? body.conversation : (body.conversation?.id ?? null);
  if (conversationId && body.previous_response_id)
    throw new GatewayError(
      400,
      'invalid_request_error',
      'Send either previous_response_id or conversation, not both',
      {
        code: 'invalid_request',
        param: 'previous_response_id',
      },
    );
  let history: Item[] = [];
  let held: HeldTurn | undefined;
  if (body.previous_response_id) {
    const found = await service.responseHistory(
      owner,
      body.previous_response_id,
      historyLimit(service.contextTokens),
    );
    if (!found) throw notFound('response', body.previous_response_id, 'previous_response_id');
    // A call or a result may be gone: deleted from the conversation the response was made in.
    history = replayableItems(found);
  } else if (conversationId) {
    ({ history, held } = await heldConversation(service, owner, conversationId, 'conversation', reply));
  }
  const {
    items: sent,
    referencedBytes,
    referenced,
  } = await normaliseInput(service, owner, body.input ?? [], maxReferencedBytes);
  // Ids the conversation holds already are replaced now, before anything is stored: the
  // conversation and the response keep one id for each item, which deleting it from the
  // conversation finds in both.
  const input = conversationId ? await service.withDistinctIds(owner, conversationId, sent) : sent;
  const from = body.previous_response_id ? 'previous_response_id' : 'conversation';
  const origin: ItemOrigin = (i) => (i < history.length ? from : `input[${i - history.length}]`);
  return {
    owner,
    id: newId('resp'),
    history,
    input,
    referencedBytes,
    referenced,
    conversationId,
    held,
    origin,
  };
}

/**
 * Input items as stored; `item_reference`s resolve to the owner's earlier items. Each reference is
 * a copy (stored again, sent upstream again), so what they bring in counts per reference and is
 * held to `maxReferencedBytes`: a small body repeating a reference to a large item would otherwise
 * store and send far more than the body limit lets any request carry.
 */
export async function normaliseInput(
  service: ConversationService,
  owner: string,
  input: NonNullable<ResponsesRequest['input']>,
  maxReferencedBytes: number,
): Promise<{ items: Item[]; referencedBytes: number; referenced: Item[] }> {
  if (typeof input === 'string')
    return {
      items: [
        {
          type: 'message',
          id: newId('msg'),
          role: 'user',
          status: 'completed',
          content: [{ type: 'input_text', text: input }],
        },
      ],
      referencedBytes: 0,
      referenced: [],
    };
  const ids = new Set<string>();
  for (const item of input) if (item.type === 'item_reference') ids.add(item.id);
  const stored = ids.size === 0 ? new Map<string, Item>() : await service.findItems(owner, [...ids]);
  const referenced = new Map<string, { item: Item; bytes: number }>();
  const copies: Item[] = [];
  let referencedBytes = 0;
  for (const [i, item] of input.entries()) {
    if (item.type !== 'item_reference') continue;
    let found = referenced.get(item.id);
    if (!found) {
      const storedItem = stored.get(item.id);
      if (!storedItem) throw notFound('item', item.id, `input[${i}]`);
      found = { item: storedItem, bytes: replayedBytes([storedItem]) };
      referenced.set(item.id, found);
    }
    referencedBytes += found.bytes;
    copies.push(found.item);
    if (referencedBytes > maxReferencedBytes)
      throw badRequest(
        `The items input references add up to more than ${maxReferencedBytes} bytes, the request size limit; reference fewer or smaller items`,
        { code: 'references_too_large', param: `input[${i}]` },
      );
  }
  return {
    items: input.map((item) => normaliseItem(item, (id) => referenced.get(id)!.item)),
    referencedBytes,
    referenced: copies,
  };
}
