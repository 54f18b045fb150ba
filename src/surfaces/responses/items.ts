import { newId, withFreshId } from '../../conversations/ids.js';
import type { InputContent, Item } from '../../conversations/items.js';
import type { InputItem } from './schema.js';

export type * from '../../conversations/items.js';
export { newId };

/**
 * Input items a client sends, normalised to stored items (conversations/items.ts) before they are
 * stored, so that `input_items` and conversation listings answer the same shape the API does.
 */

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
 * may see; the route has checked that every reference resolves. A reference is a copy, stored under
 * an id of its own: with the original's id, a conversation holding both (or the same reference
 * twice) would have two items of one id, which a page cursor, a read or a delete cannot tell apart.
 */
export function normaliseItem(item: InputItem, resolve: (id: string) => Item): Item {
  switch (item.type) {
    case 'item_reference':
      return withFreshId(resolve(item.id));
    // A call's `caller` is the model's own here (refusals.ts) and `namespace` absent: nothing to keep.
    case 'function_call':
      return {
        type: 'function_call',
        id: item.id ?? newId('fc'),
        call_id: item.call_id,
        name: item.name,
        arguments: item.arguments,
        status: item.status ?? 'completed',
      };
    case 'function_call_output':
      return {
        type: 'function_call_output',
        id: item.id ?? newId('fco'),
        call_id: item.call_id,
        output: typeof item.output === 'string' ? item.output : item.output.map(withDetail),
        status: item.status ?? 'completed',
      };
    case 'custom_tool_call':
      return {
        type: 'custom_tool_call',
        id: item.id ?? newId('ctc'),
        call_id: item.call_id,
        name: item.name,
        input: item.input,
        status: item.status ?? 'completed',
      };
    case 'custom_tool_call_output':
      return {
        type: 'custom_tool_call_output',
        id: item.id ?? newId('ctco'),
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
