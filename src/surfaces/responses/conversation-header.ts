import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AssistantPart, Message } from '../../canonical/model.js';
import { type ConversationService, ownerOf } from '../../conversations/index.js';
import { badRequest } from '../../errors/gateway-error.js';
import type { Logger } from '../../observability/index.js';
import type { ForwardJob, RequestForwarder, SurfaceBinding } from '../types.js';
import { AnswerAccumulator, messagesToItems } from './canonical-items.js';
import { outputItem } from './from-canonical.js';
import { type Item, replayedBytes } from './items.js';
import { itemsToMessages } from './to-canonical.js';
import { fitToContext, type Refusal } from './truncation.js';
import { heldConversation, turnEnd } from './turn.js';

export const CONVERSATION_HEADER = 'x-keyward-conversation';
const CONVERSATION_ID = /^conv_[A-Za-z0-9_-]{1,128}$/;

/**
 * Chat Completions, Messages and Gemini clients keeping their history in a Keyward conversation:
 * with `x-keyward-conversation: conv_…` the stored history goes in front of the request's
 * messages, and the request's messages and the answer are appended. Such a request always goes
 * through the canonical form (even to a provider of the client's format), since the gateway must
 * read the answer to store it. Without the header the job is forwarded as it is, at no cost. With
 * it, the model is checked before the history is read: an unknown or forbidden one costs a lookup.
 */
export function forwardInConversation(
  request: FastifyRequest,
  reply: FastifyReply,
  context: { forwarder: RequestForwarder; conversations: ConversationService; logger: Logger },
  job: ForwardJob,
): Promise<FastifyReply> {
  const { forwarder } = context;
  const header = request.headers[CONVERSATION_HEADER];
  if (header === undefined) return forwarder.handle(request, reply, job);
  forwarder.route(request, job.body.model);
  const id = (Array.isArray(header) ? header[0] : header)?.trim() ?? '';
  const where = { id, param: CONVERSATION_HEADER };
  return forwarder
    .refuseIfSpent(request)
    .then(() =>
      conversationSurface(request, reply, job.surface, where, context.conversations, context.logger),
    )
    .then((surface) => forwarder.handle(request, reply, { ...job, surface }));
}

/**
 * `base` bound to the caller's conversation `id`: its history goes in front of the request and the
 * turn is appended once answered. Another owner's id is a 404 naming `param`, where the id came from.
 */
export function conversationSurface(
  request: FastifyRequest,
  reply: FastifyReply,
  base: SurfaceBinding,
  { id, param }: { id: string; param: string },
  conversations: ConversationService,
  logger: Logger,
): Promise<SurfaceBinding> {
  if (!CONVERSATION_ID.test(id))
    throw badRequest(`${param} must be a conversation id (conv_…)`, {
      param,
      code: 'invalid_conversation_id',
    });
  const owner = ownerOf(request.kw.principal);
  const { contextTokens } = conversations;
  const refusal = {
    advice: `start a new conversation, or delete the oldest items of this one (DELETE /v1/conversations/${id}/items/{item_id})`,
    param,
  };
  return heldConversation(conversations, owner, id, param, reply).then(({ history, held }) =>
    conversationBinding(base, history, { contextTokens, refusal }, turnEnd(held, id, logger)),
  );
}

/** History then the new turn; a turn that continues the last stored one's role joins it. */
function join(past: Message[], next: Message[]): Message[] {
  const last = past.at(-1);
  const first = next[0];
  if (!last || !first || last.role !== first.role) return [...past, ...next];
  const merged = { role: last.role, content: [...last.content, ...first.content] } as Message;
  return [...past.slice(0, -1), merged, ...next.slice(1)];
}

/**
 * The history goes in whole or the request is refused: a Chat Completions or Messages client has
 * no `truncation` to ask for turns to be dropped, and dropping them unasked would change what the
 * model is told. History older than the window is never loaded (`historyLimit`). The turn ends
 * (`end`: its items, undefined when it was not answered) before the end of its answer goes out;
 * a turn its store did not take ends with the surface's error instead.
 */
function conversationBinding(
  base: SurfaceBinding,
  history: Item[],
  window: { contextTokens: number; refusal: Refusal },
  end: (items: Item[] | undefined) => Promise<void>,
): SurfaceBinding {
  let turn: Item[] = [];
  let answered: Item[] | undefined;
  const shown = (parts: AssistantPart[]) => base.shown?.(parts) ?? parts;
  return {
    ...base,
    format: 'responses',
    addedInputBytes: (base.addedInputBytes ?? 0) + replayedBytes(history),
    addedInput: [...(base.addedInput ?? []), history],
    toCanonical: (body) => {
      // The history goes whole (truncation is disabled), so it is read once: a result in the
      // request may answer a call in it by name (a legacy `function` message, a Gemini result
      // without id), which its surface pairs only seeing it.
      const past = itemsToMessages(history, () => CONVERSATION_HEADER);
      const request = base.toCanonical(body, past.messages);
      turn = messagesToItems(request.messages);
      return fitToContext(
        () => ({
          ...request,
          system: [...past.system, ...request.system],
          messages: join(past.messages, request.messages),
        }),
        history,
        turn,
        'disabled',
        window.contextTokens,
        window.refusal,
      );
    },
    fromCanonical: (answer) => {
      // Encoded first: an answer the surface refuses (a template's output schema) is not stored.
      const encoded = base.fromCanonical(answer);
      answered = [...turn, ...shown(answer.content).map((part) => outputItem(part))];
      return encoded;
    },
    streamEncoder: (options) => {
      const encoder = base.streamEncoder(options);
      const answer = new AnswerAccumulator();
      return {
        event(event) {
          answer.add(event);
          if (event.type === 'finish')
            answered = [...turn, ...shown(answer.parts.filter(Boolean)).map((part) => outputItem(part))];
          return encoder.event(event);
        },
      };
    },
    beforeEnd: () => end(answered),
  };
}
