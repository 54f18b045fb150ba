import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requireScope } from '../../auth/access.js';
import { isPlainText } from '../../auth/index.js';
import { type ConversationService, ownerOf, storedLimit } from '../../conversations/index.js';
import { badRequest } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/index.js';
import type { CallAdmission, RequestForwarder } from '../types.js';
import { responsesBinding } from './binding.js';
import { conversationRoutes } from './conversation-routes.js';
import { notFound, prepareTurn, readsStoredItems, whenOver } from './turn.js';
import { capOutputTokens, parsePageQuery, parseResponsesRequest } from './validate.js';

export interface ResponsesRoutesOptions {
  forwarder: RequestForwarder;
  /** Holds the stored-state routes, which reach no provider, to the caller's request limits. */
  admission: CallAdmission;
  conversations: ConversationService;
  /** The most bytes one request may copy in by `item_reference` (the body limit). */
  bodyLimit: number;
  logger: Logger;
}

type WithId = FastifyRequest<{ Params: { id: string } }>;

/** The caller's owner id, after the scope check every route of this surface makes. */
function caller(request: FastifyRequest): string {
  requireScope(request.kw.principal, 'chat');
  return ownerOf(request.kw.principal);
}

/**
 * The OpenAI Responses API, with its state kept in Keyward for every provider: history is
 * replayed from the store, `previous_response_id` never leaves the gateway.
 */
export async function responsesRoutes(
  app: FastifyInstance,
  { forwarder, admission, conversations, logger, bodyLimit }: ResponsesRoutesOptions,
): Promise<void> {
  app.post('/v1/responses', async (request, reply) => {
    const owner = caller(request);
    const body = capOutputTokens(request.kw.principal, parseResponsesRequest(request.body));
    // Refused before the history is read: an unknown or forbidden model, or a caller past its
    // limits, costs a lookup, not a replay.
    forwarder.route(request, body.model);
    if (readsStoredItems(body)) await forwarder.refuseIfSpent(request);
    const room =
      body.store === false
        ? undefined
        : await conversations.holdRoom(owner, storedLimit(request.kw.principal), 'store');
    if (room) whenOver(reply, () => room.end());
    const turn = await prepareTurn(conversations, owner, body, bodyLimit, reply);
    return forwarder.handle(request, reply, {
      operation: 'chat',
      surface: responsesBinding(turn, body, conversations, logger, room),
      body,
      stream: body.stream === true,
      includeUsage: true,
    });
  });

  // The forwarder admits what goes to a provider; these routes only read and write the store, and
  // are held to the caller's request rate and concurrency here, or a client could write without limit.
  app.register(async (state) => {
    state.addHook('preHandler', async (request, reply) => {
      refuseUnstoredIds(request);
      return admission.admitCall(request, reply);
    });
    state.register(conversationRoutes, { conversations, bodyLimit });
    state.register(storedResponseRoutes, { conversations });
  });
}

/**
 * A path id no record can have (control characters, unpaired surrogates: refused wherever ids are
 * written) is not found, as any other id nobody has; looked up, Postgres refused it with an error.
 */
function refuseUnstoredIds(request: FastifyRequest): void {
  const params = request.params as Record<string, string | undefined>;
  for (const [name, what] of [
    ['id', request.url.startsWith('/v1/conversations') ? 'conversation' : 'response'],
    ['itemId', 'item'],
  ] as const) {
    const id = params[name];
    if (id !== undefined && !isPlainText(id)) throw notFound(what, id);
  }
}

/** `GET`/`DELETE /v1/responses/{id}` and its input items: the caller's stored responses. */
async function storedResponseRoutes(
  app: FastifyInstance,
  { conversations }: { conversations: ConversationService },
): Promise<void> {
  app.get('/v1/responses/:id', async (request: WithId) => {
    const query = request.query as Record<string, unknown>;
    if (query.stream === 'true')
      throw badRequest('Keyward stores finished responses only; retrieve without stream=true', {
        param: 'stream',
        code: 'unsupported_parameter',
      });
    const response = await conversations.getResponse(caller(request), request.params.id);
    if (!response) throw notFound('response', request.params.id);
    return response;
  });

  app.delete('/v1/responses/:id', async (request: WithId) => {
    const { id } = request.params;
    if (!(await conversations.deleteResponse(caller(request), id))) throw notFound('response', id);
    return { id, object: 'response.deleted', deleted: true };
  });

  app.get('/v1/responses/:id/input_items', async (request: WithId) => {
    const owner = caller(request);
    const page = await conversations.responseInputItems(
      owner,
      request.params.id,
      parsePageQuery(request.query),
    );
    if (!page) throw notFound('response', request.params.id);
    return page;
  });
}
