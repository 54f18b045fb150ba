import type { SealingKey } from '../keys/index.js';
import type { ConversationItemRecord, ConversationStore } from '../store/index.js';
import type { Item } from './items.js';
import { sealItem, sealText } from './sealing.js';

/** A stored response: the response object as the API shows it (`id`, `output`, `previous_response_id`, …). */
export interface StoredResponse {
  id: string;
  previous_response_id: string | null;
  /** The conversation it was made in: deleting the conversation deletes the response. */
  conversation?: { id: string } | null;
  output: Item[];
}

/**
 * A finished response waiting to be written: the response and each of its items as JSON text,
 * in the clear. Whoever writes it seals it.
 */
export interface ResponseEntry {
  id: string;
  owner: string;
  createdAt: number;
  /** The response it continues: kept beside the sealed text, so that a chain reads without opening each. */
  previousId?: string;
  /** The conversation it was made in, kept beside the sealed text so that deleting it finds it. */
  conversationId?: string;
  text: string;
  items: Array<{ id: string; part: ConversationItemRecord['part']; text: string }>;
}

/**
 * Writes a batch of finished responses, sealed under `master`, in one transaction. On the store's
 * connection by default; on SQLite from a writer thread, which also does the sealing, so that
 * neither the ciphers nor the inserts cost the thread that serves requests.
 */
export type ResponseWriter = (master: SealingKey, entries: readonly ResponseEntry[]) => Promise<void>;

type SealedEntry = Parameters<ConversationStore['putAll']>[0][number];

/**
 * A response with the input items it answered (its output is in `response`), serialised; `json`
 * is `response`'s JSON, when the caller made it already.
 */
export function responseEntry(
  owner: string,
  createdAt: number,
  response: StoredResponse,
  input: readonly Item[],
  json = JSON.stringify(response),
): ResponseEntry {
  const item = (part: ConversationItemRecord['part'], value: Item) => ({
    id: value.id,
    part,
    text: JSON.stringify(value),
  });
  return {
    id: response.id,
    owner,
    createdAt,
    ...(response.previous_response_id !== null && { previousId: response.previous_response_id }),
    ...(response.conversation?.id !== undefined && { conversationId: response.conversation.id }),
    text: json,
    items: [
      ...input.map((value) => item('input', value)),
      ...response.output.map((value) => item('output', value)),
    ],
  };
}

/** Records and items as the store keeps them: each text sealed, bound to its owner and id. */
export function sealResponses(master: SealingKey, entries: readonly ResponseEntry[]): SealedEntry[] {
  return entries.map(({ id, owner, createdAt, previousId, conversationId, text, items }) => {
    const sealed = items.map((item) => sealItem(master, owner, id, item.part, item, createdAt));
    return {
      record: {
        id,
        kind: 'response',
        owner,
        createdAt,
        sealed: sealText(master, text, owner, id).sealed,
        ...(previousId !== undefined && { previousId }),
        ...(conversationId !== undefined && { conversationId }),
        itemCount: sealed.length,
        itemBytes: sealed.reduce((sum, item) => sum + item.bytes, 0),
      },
      items: sealed,
    };
  });
}

/** The default writer: sealed here, written on the store's own connection. */
export const storeWriter =
  (store: ConversationStore): ResponseWriter =>
  (master, entries) =>
    store.putAll(sealResponses(master, entries));
