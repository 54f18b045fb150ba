import type { InputContent, Item } from '../../conversations/items.js';
import { pooledRandomHex } from '../../keys/index.js';
import type { InputItem } from './schema.js';

export type * from '../../conversations/items.js';

/**
 * Input items a client sends, normalised to stored items (conversations/items.ts) before they are
 * stored, so that `input_items` and conversation listings answer the same shape the API does.
 */

/**
 * A generated id: the creation time in milliseconds (12 hex digits), then 96 random bits (24 hex
 * digits), so that ids sort by age, as OpenAI's (which begin with their time) do. Stored ids are
 * B-tree keys: random ones land each on a page of its own, and a store holding some thousands of
 * responses rewrote several pages per response on every commit (160–460 µs a stored response in
 * SQLite, mostly writing; 30–50 µs with ordered ids).
 */
export const newId = (prefix: 'resp' | 'msg' | 'fc' | 'fco' | 'rs' | 'conv'): string =>
  `${prefix}_${Date.now().toString(16).padStart(12, '0')}${pooledRandomHex(12)}`;

type SentContent = Extract<InputItem, { type: 'function_call_output' }>['output'] extends
  | string
  | Array<infer P>
  ? P
  : never;

/** An image's `detail` defaults to `auto`, as the API shows it. */
function withDetail(part: SentContent): InputContent {
  return part.type === 'input_image' ? { ...part, detail: part.detail ?? 'auto' } : part;
}

/**
 * A client's input item as stored. `resolve` finds an `item_reference` among the items this owner
 * may see; the route has checked that every reference resolves.
 */
export function normaliseItem(item: InputItem, resolve: (id: string) => Item): Item {
  switch (item.type) {
    case 'item_reference':
      return resolve(item.id);
    case 'function_call':
      return { ...item, id: item.id ?? newId('fc'), status: item.status ?? 'completed' };
    case 'function_call_output':
      return {
        type: 'function_call_output',
        id: item.id ?? newId('fco'),
        call_id: item.call_id,
        output: typeof item.output === 'string' ? item.output : item.output.map(withDetail),
        status: item.status ?? 'completed',
      };
    case 'reasoning':
      return { ...item, id: item.id ?? newId('rs') };
    default: {
      const content =
        typeof item.content === 'string'
          ? [
              item.role === 'assistant'
                ? { type: 'output_text' as const, text: item.content, annotations: [] }
                : { type: 'input_text' as const, text: item.content },
            ]
          : item.content.map((part) =>
              part.type === 'input_image'
                ? withDetail(part)
                : part.type === 'output_text'
                  ? { ...part, annotations: part.annotations ?? [] }
                  : part,
            );
      return {
        type: 'message',
        id: item.id ?? newId('msg'),
        role: item.role,
        status: item.status ?? 'completed',
        content,
      };
    }
  }
}

/** The JSON size of stored items replayed to the provider: input the client's body does not show. */
export function replayedBytes(items: readonly Item[]): number {
  return items.length === 0 ? 0 : Buffer.byteLength(JSON.stringify(items));
}
