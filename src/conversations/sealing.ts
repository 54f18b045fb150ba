import { open, type SealingKey, seal, sealedBy } from '../keys/envelope.js';
import type { MasterKey } from '../keys/master-key.js';
import type { ConversationItemRecord } from '../store/index.js';

/**
 * Conversation content at rest: JSON sealed with AES-256-GCM under the master key, bound to its
 * owner and its id, so that a sealed text copied to another owner's record (or another record)
 * fails to open. The `_conv:` namespace keeps these bindings apart from provider keys'.
 */
const binding = (owner: string, id: string) => ({ provider: `_conv:${owner}`, keyId: id });

/** What an item's content is bound to: its parent (response or conversation) and its own id. */
export const itemKey = (parentId: string, id: string): string => `${parentId}/${id}`;

export function sealJson(
  master: SealingKey,
  value: unknown,
  owner: string,
  id: string,
): { sealed: string; bytes: number } {
  return sealText(master, JSON.stringify(value), owner, id);
}

/** `sealJson` of a value already serialised. */
export function sealText(
  master: SealingKey,
  text: string,
  owner: string,
  id: string,
): { sealed: string; bytes: number } {
  return { sealed: seal(master, text, binding(owner, id)), bytes: Buffer.byteLength(text) };
}

/** An item's row: its JSON text sealed, bound to its owner, its parent and its own id. */
export function sealItem(
  master: SealingKey,
  owner: string,
  parentId: string,
  part: ConversationItemRecord['part'],
  item: { id: string; text: string },
  createdAt: number,
): Omit<ConversationItemRecord, 'seq'> {
  const { sealed, bytes } = sealText(master, item.text, owner, itemKey(parentId, item.id));
  return { parentId, id: item.id, owner, part, createdAt, bytes, sealed };
}

export function openJson<T>(masters: readonly MasterKey[], sealed: string, owner: string, id: string): T {
  return JSON.parse(open(masters, sealed, binding(owner, id))) as T;
}

/**
 * The same content sealed under `next` (master key rotation), or undefined when `next` sealed it
 * already: a gateway that picked the new key up during the rotation writes such texts.
 */
export function reseal(
  current: readonly MasterKey[],
  next: MasterKey,
  sealed: string,
  owner: string,
  id: string,
): string | undefined {
  if (sealedBy(sealed) === next.id) return undefined;
  return seal(next, open(current, sealed, binding(owner, id)), binding(owner, id));
}
